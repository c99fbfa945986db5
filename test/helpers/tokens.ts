/**
 * Forging access tokens for adversarial tests.
 */
import { env } from "cloudflare:workers";
import * as jose from "jose";
import { claims } from "./accounts";

// --- Forging access tokens (adversarial tests) -------------------------------------------------
// Tokens are built by hand so that every header field and claim can be left out, doubled or made
// wrong one at a time; the service's real signing key (a test binding) signs the "valid" ones.

export interface TokenSubject {
  userId: string;
  sessionId: string;
  role?: "guest" | "user";
}

const jsonPart = (value: unknown) =>
  typeof value === "string" ? value : jose.base64url.encode(new TextEncoder().encode(JSON.stringify(value)));

/** The service's own signing key, imported from the test binding (a private JWK as JSON). */
export async function serviceSigningKey(): Promise<{ key: CryptoKey; jwk: jose.JWK; kid: string }> {
  const jwk = JSON.parse((env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY) as jose.JWK & { kid: string };
  const key = (await jose.importJWK({ ...jwk, alg: "ES256" }, "ES256")) as CryptoKey;
  return { key, jwk, kid: jwk.kid };
}

/** The claims the service issues for `subject`, valid for an hour from now. */
export function accessClaims(subject: TokenSubject): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: env.JWT_ISSUER,
    aud: env.JWT_AUDIENCE,
    sub: subject.userId,
    sid: subject.sessionId,
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 3600,
    role: subject.role ?? "guest",
  };
}

/**
 * Signs `header`.`payload` as a compact JWS: ES256 with a CryptoKey (the service's by default),
 * HS256 with raw bytes as the HMAC secret, or no signature at all with `key: "none"`.
 * Strings in place of header or payload are used as the encoded part verbatim.
 */
export async function signToken(
  header: Record<string, unknown> | string,
  payload: Record<string, unknown> | string,
  key?: CryptoKey | Uint8Array | "none",
): Promise<string> {
  const input = `${jsonPart(header)}.${jsonPart(payload)}`;
  const data = new TextEncoder().encode(input);
  const signer = key ?? (await serviceSigningKey()).key;
  if (signer === "none") return `${input}.`;
  let signature: ArrayBuffer;
  if (signer instanceof Uint8Array) {
    const hmac = await crypto.subtle.importKey("raw", signer, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    signature = await crypto.subtle.sign("HMAC", hmac, data);
  } else {
    signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signer, data);
  }
  return `${input}.${jose.base64url.encode(new Uint8Array(signature))}`;
}

/** A token exactly like the service's own for `subject`, signed with the service's key. */
export async function forgeAccessToken(subject: TokenSubject): Promise<string> {
  const { kid } = await serviceSigningKey();
  return signToken({ alg: "ES256", kid, typ: "JWT" }, accessClaims(subject));
}

/**
 * The same access token (user, session, role) re-signed with the service's key as if issued two
 * hours ago, so it expired an hour ago: what a client holds when its access token has run out.
 */
export async function expiredAccessToken(accessToken: string): Promise<string> {
  const { kid } = await serviceSigningKey();
  const now = Math.floor(Date.now() / 1000);
  return signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims(accessToken), jti: crypto.randomUUID(), iat: now - 7200, exp: now - 3600 });
}
