/**
 * Access tokens (API.md §1): ES256 JWTs with `typ: "JWT"`, and the JWKS that publishes the current
 * and previous public keys. Verification pins the algorithm, `typ`, issuer, audience and every claim
 * the service relies on, and refuses any header beyond `alg`, `kid` and `typ` (no `jku`, `x5u`,
 * `jwk`, `crit`), so no key or URL is ever taken from the token itself.
 *
 * @example
 * import { signAccessToken, verifyAccessToken } from "./index";
 * const { token } = await signAccessToken(config, { userId, sessionId, role: "user" });
 * const claims = await verifyAccessToken(config, token); // throws AuthError("invalid_token")
 */
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import type { Config, PublicJwk } from "../config";
import { isUuid } from "../crypto";
import { invalidToken } from "../http/errors";
import type { Role } from "../types";

/** Defined in src/types.ts (shared, imports nothing); re-exported where access tokens live. */
export type { Role } from "../types";

export interface AccessClaims {
  userId: string;
  sessionId: string;
  role: Role;
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
  /** `iat`, seconds since the epoch: re-authentication by a recent sign-in (API.md §9) reads it. */
  issuedAt: number;
  /** `aal` (API.md §15): "aal2" when two factors or a passkey proved the session. */
  aal: Aal;
  /** `amr`: the methods that proved the session, in order (RFC 8176 names where they exist). */
  amr: string[];
  /** `auth_time`, seconds since the epoch: the session's latest sign-in or step-up. */
  authTime: number;
}

/** An authenticator assurance level (NIST SP 800-63B-4): what `aal` may hold. */
export type Aal = "aal1" | "aal2";

/** What a session's access tokens say about how it was proven; `authTime` in seconds. */
export interface Assurance {
  aal: Aal;
  amr: string[];
  authTime: number;
}

interface KeyState {
  signingKey: CryptoKey;
  jwks: JSONWebKeySet;
  getKey: JWTVerifyGetKey;
}

const keyStates = new WeakMap<Config, Promise<KeyState>>();

function publicPart({ kty, crv, x, y, kid }: PublicJwk) {
  return { kty, crv, x, y, kid, use: "sig", alg: "ES256" };
}

function keys(config: Config): Promise<KeyState> {
  let state = keyStates.get(config);
  if (!state) {
    state = (async () => {
      const { d: _private, ...rest } = config.signingKey;
      const jwks = {
        keys: [publicPart(rest), ...config.previousKeys.filter((k) => k.kid !== rest.kid).map(publicPart)],
      };
      const signingKey = (await importJWK({ ...config.signingKey, alg: "ES256" }, "ES256")) as CryptoKey;
      return { signingKey, jwks, getKey: createLocalJWKSet(jwks) };
    })();
    state.catch(() => keyStates.delete(config));
    keyStates.set(config, state);
  }
  return state;
}

export async function jwks(config: Config): Promise<JSONWebKeySet> {
  return (await keys(config)).jwks;
}

export async function signAccessToken(
  config: Config,
  subject: { userId: string; sessionId: string; role: Role; assurance: Assurance },
): Promise<{ token: string; expiresIn: number }> {
  const { signingKey } = await keys(config);
  const now = Math.floor(Date.now() / 1000);
  const { aal, amr, authTime } = subject.assurance;
  const token = await new SignJWT({ sid: subject.sessionId, role: subject.role, aal, amr, auth_time: authTime })
    .setProtectedHeader({ alg: "ES256", kid: config.signingKey.kid, typ: "JWT" })
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setSubject(subject.userId)
    .setJti(crypto.randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + config.accessTokenTtlSeconds)
    .sign(signingKey);
  return { token, expiresIn: config.accessTokenTtlSeconds };
}

const ALLOWED_HEADERS = new Set(["alg", "kid", "typ"]);
const TEN_YEARS = 10 * 365 * 86_400;

/**
 * Verifies an access token and returns its claims, or throws `invalid_token`.
 * `allowExpired` serves document 000's refresh, which takes an expired access token as proof of
 * the session; the signature and every other check still apply.
 */
export async function verifyAccessToken(
  config: Config,
  token: string,
  options: { allowExpired?: boolean } = {},
): Promise<AccessClaims> {
  if (token.length > 4096 || token.split(".").length !== 3) throw invalidToken();
  const seen = options.allowExpired ? undefined : verifiedBefore(config, token);
  if (seen) return seen;
  try {
    const header = decodeProtectedHeader(token);
    if (Object.keys(header).some((name) => !ALLOWED_HEADERS.has(name)) || typeof header.kid !== "string") {
      throw invalidToken();
    }
    const { getKey } = await keys(config);
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: ["ES256"],
      typ: "JWT",
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: ["exp", "iat", "sub", "sid", "jti", "role"],
      ...(options.allowExpired ? { clockTolerance: TEN_YEARS } : { clockTolerance: 5 }),
    });
    const { sub, sid, role, exp, iat } = payload;
    const assurance = readAssurance(payload, iat);
    if (
      // Issued in the future: never by this service, whose clock signs them.
      typeof iat !== "number" || iat > Date.now() / 1000 + 5 ||
      typeof sub !== "string" || !isUuid(sub) ||
      typeof sid !== "string" || !isUuid(sid) ||
      (role !== "guest" && role !== "user") || typeof exp !== "number" || !assurance
    ) {
      throw invalidToken();
    }
    const claims: AccessClaims = { userId: sub, sessionId: sid, role, expiresAt: exp, issuedAt: iat, ...assurance };
    if (!options.allowExpired) remember(config, token, claims);
    return claims;
  } catch {
    throw invalidToken();
  }
}

/**
 * The `aal`, `amr` and `auth_time` claims, checked: a token signed before they existed (none of the
 * three) reads as aal1 with no methods, proven at `iat`; a token with any of them malformed, or with
 * only some of them, is refused (undefined).
 */
function readAssurance(payload: Record<string, unknown>, iat: unknown): Assurance | undefined {
  const { aal, amr, auth_time } = payload;
  if (aal === undefined && amr === undefined && auth_time === undefined) {
    return typeof iat === "number" ? { aal: "aal1", amr: [], authTime: iat } : undefined;
  }
  if (aal !== "aal1" && aal !== "aal2") return undefined;
  if (!Array.isArray(amr) || amr.length > 8 || !amr.every((m) => typeof m === "string" && m.length <= 32)) return undefined;
  if (typeof auth_time !== "number" || !Number.isInteger(auth_time) || auth_time > Date.now() / 1000 + 5) return undefined;
  return { aal, amr: amr as string[], authTime: auth_time };
}

/**
 * Tokens this isolate has verified, with their claims, until they expire. A client sends the same
 * access token for up to an hour, and the ES256 check is the largest CPU cost of an authenticated
 * request; the cache holds only what passed every check, keyed by the exact token, and is dropped
 * with the config (a new key set means a new isolate). Revocation is unaffected: the session is
 * still read from D1 on every request.
 */
const MAX_REMEMBERED = 5_000;
const verified = new WeakMap<Config, Map<string, AccessClaims>>();

function verifiedBefore(config: Config, token: string): AccessClaims | undefined {
  const claims = verified.get(config)?.get(token);
  return claims && claims.expiresAt > Date.now() / 1000 ? claims : undefined;
}

function remember(config: Config, token: string, claims: AccessClaims): void {
  let tokens = verified.get(config);
  if (!tokens) verified.set(config, (tokens = new Map()));
  if (tokens.size >= MAX_REMEMBERED) tokens.delete(tokens.keys().next().value!);
  tokens.set(token, claims);
}

/** The bearer token of an Authorization header value, or null. Query strings are never read. */
export function bearerToken(header: string | undefined | null): string | null {
  const match = header ? /^Bearer[ ]+([A-Za-z0-9\-_.]+)$/i.exec(header.trim()) : null;
  return match?.[1] ?? null;
}
