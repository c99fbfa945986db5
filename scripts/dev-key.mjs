/**
 * ES256 signing keys as private JWKs. `generateDevKey` gives a kid starting with "dev-", which
 * production config refuses; it is used by `npm run dev` (written to .dev.vars) and by the tests.
 *
 * @example
 * import { generateDevKey, generateSigningKey } from "./dev-key.mjs";
 * const dev = await generateDevKey();                 // { kty: "EC", crv: "P-256", x, y, d, kid: "dev-…" }
 * const prod = await generateSigningKey("prod-2026-11");
 */
import { webcrypto } from "node:crypto";

export async function generateSigningKey(kid) {
  const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const { kty, crv, x, y, d } = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
  return { kty, crv, x, y, d, kid };
}

export async function generateDevKey(label = "dev") {
  const stamp = new Date().toISOString().slice(0, 10);
  const random = Buffer.from(webcrypto.getRandomValues(new Uint8Array(4))).toString("hex");
  return generateSigningKey(`${label.startsWith("dev-") ? label : `dev-${label}`}-${stamp}-${random}`);
}

/**
 * A new MFA_ENCRYPTION_KEY (API.md §15): 32 random bytes, base64url. `npm run dev` writes one to
 * .dev.vars; production sets its own with `wrangler secret put MFA_ENCRYPTION_KEY`.
 */
export function generateMfaKey() {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}
