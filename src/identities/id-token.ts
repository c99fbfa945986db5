/**
 * A provider's metadata (preset, or OpenID discovery through oauth4webapi, cached per isolate) and
 * the ID-token checks of API.md §13, with jose: the signature by the provider's JWKS (cached; an
 * unknown `kid` refetches once, then waits out OIDC_JWKS_COOLDOWN_SECONDS before the next refetch),
 * the algorithm pinned to the provider's asymmetric ones, `typ` absent or `JWT`, `iss` exactly,
 * `aud` one of `clientIds`, `exp` and `iat` within 60 s of skew, and the nonce rule. Every failure
 * is 401 `invalid_credentials`; a provider that cannot be reached is 503 `unavailable`. The token's
 * `email` counts only when it is an address every other door accepts, as sent (`providerEmail`).
 *
 * @example
 * const identity = await verifyIdToken(deps, provider, body.idToken, body.nonce);
 * identity.subject; // the provider's `sub`
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import * as oauth from "oauth4webapi";
import { emailProblem } from "../accounts/email-address";
import { constantTimeEqual } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import type { Provider } from "./providers";

/** Seconds of clock skew allowed on `exp` and `iat`. */
export const CLOCK_SKEW_SECONDS = 60;
/** How long discovered metadata is reused by an isolate. */
const METADATA_TTL_MS = 3_600_000;
/** Signature algorithms an ID token may use: asymmetric only, so `none` and HMAC never pass. */
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);

/** What a verified ID token says about the person. */
export interface VerifiedIdentity {
  provider: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

const refused = () => new AuthError("invalid_credentials", "The ID token was refused");
const unreachable = () => new AuthError("unavailable", "The identity provider cannot be reached; try again shortly", undefined, 5);

/** http issuers are allowed in development only (a loopback provider); config refuses them in production. */
const insecureOk = (deps: Deps) => ({ [oauth.allowInsecureRequests]: deps.config.isDevelopment });

const discovered = new Map<string, { as: oauth.AuthorizationServer; at: number }>();

/** The provider's authorization server metadata: its preset or overrides, else discovery. */
export async function providerMetadata(deps: Deps, provider: Provider): Promise<oauth.AuthorizationServer> {
  if (provider.endpoints) {
    return {
      issuer: provider.issuer,
      authorization_endpoint: provider.endpoints.authorizationEndpoint,
      token_endpoint: provider.endpoints.tokenEndpoint,
      jwks_uri: provider.endpoints.jwksUri,
      id_token_signing_alg_values_supported: provider.endpoints.algorithms,
    };
  }
  const cached = discovered.get(provider.issuer);
  if (cached && Date.now() - cached.at < METADATA_TTL_MS) return cached.as;
  const issuer = new URL(provider.issuer);
  try {
    const response = await oauth.discoveryRequest(issuer, { algorithm: "oidc", signal: AbortSignal.timeout(5000), ...insecureOk(deps) });
    const as = await oauth.processDiscoveryResponse(issuer, response);
    discovered.set(provider.issuer, { as, at: Date.now() });
    return as;
  } catch {
    throw unreachable();
  }
}

const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/** One remote key set per JWKS URL and isolate, so keys are fetched once and reused. */
function keySet(uri: string, cooldownMs: number) {
  const key = `${cooldownMs} ${uri}`;
  let set = keySets.get(key);
  if (!set) {
    set = createRemoteJWKSet(new URL(uri), { cooldownDuration: cooldownMs, cacheMaxAge: 3_600_000, timeoutDuration: 5000 });
    keySets.set(key, set);
  }
  return set;
}

/** The provider's asymmetric algorithms (RS256 when it names none). */
function algorithmsOf(as: oauth.AuthorizationServer): string[] {
  const named = (as.id_token_signing_alg_values_supported ?? []).filter((alg) => ASYMMETRIC.has(alg));
  return named.length > 0 ? named : ["RS256"];
}

const hexSha256 = async (value: string) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Apple sends `email_verified` as a string; others as a boolean. */
const isTrue = (value: unknown) => value === true || value === "true";

/**
 * Checks `idToken` as described above. `nonce` is what the app sent: when the token has a `nonce`
 * claim it must equal it or its SHA-256 in hex (Apple's native flow); a nonce sent for a token
 * without one is refused too.
 */
export async function verifyIdToken(deps: Deps, provider: Provider, idToken: string, nonce: string | undefined): Promise<VerifiedIdentity> {
  const as = await providerMetadata(deps, provider);
  if (!as.jwks_uri) throw unreachable();
  let typ: string | undefined;
  try {
    typ = decodeProtectedHeader(idToken).typ;
  } catch {
    throw refused();
  }
  // An ID token has no typ or "JWT"; anything else is another kind of token.
  if (typ !== undefined && typ.toUpperCase() !== "JWT") throw refused();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keySet(as.jwks_uri, deps.config.oidcJwksCooldownMs), {
      issuer: [provider.issuer, ...provider.issuerAliases],
      audience: provider.clientIds,
      algorithms: algorithmsOf(as),
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ["iss", "sub", "aud", "exp", "iat"],
    }));
  } catch (error) {
    // The key set could not be fetched: the provider's fault, not the token's.
    const fetchFailed =
      error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid ||
      (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC") || !(error instanceof errors.JOSEError);
    if (fetchFailed) throw unreachable();
    throw refused();
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== "number" || payload.iat > now + CLOCK_SKEW_SECONDS) throw refused();
  if (typeof payload.sub !== "string" || payload.sub === "" || payload.sub.length > 255) throw refused();
  // Several audiences: the party it was issued to must be ours (OpenID Connect Core 3.1.3.7).
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && !provider.clientIds.includes(String(payload.azp))) throw refused();
  await checkNonce(payload.nonce, nonce);
  const email = providerEmail(payload.email);
  return { provider: provider.name, subject: payload.sub, email, emailVerified: email !== null && isTrue(payload.email_verified) };
}

/**
 * The token's `email` claim when it is an address the service accepts at every other door (API.md
 * §2, src/accounts/email-address.ts: ASCII, A-label domains, a real domain), exactly as sent: a
 * provider's claim is not typed by a person, so nothing is trimmed or folded into shape first
 * (a fullwidth letter or a trailing U+3000 would otherwise fold into someone else's address).
 * Anything else is treated as no email at all (null), verified or not.
 */
export function providerEmail(claim: unknown): string | null {
  if (typeof claim !== "string" || claim.length > 254 || claim !== claim.trim()) return null;
  return emailProblem(claim) === null ? claim : null;
}

async function checkNonce(claim: unknown, sent: string | undefined): Promise<void> {
  if (claim === undefined) {
    if (sent !== undefined) throw refused();
    return;
  }
  if (typeof claim !== "string" || sent === undefined || sent === "") throw refused();
  if (constantTimeEqual(claim, sent)) return;
  if (constantTimeEqual(claim.toLowerCase(), await hexSha256(sent))) return;
  throw refused();
}
