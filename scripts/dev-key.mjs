/**
 * Makes an ES256 signing key as a private JWK whose kid starts with "dev-", which production
 * config refuses. Used by `npm run dev` (written to .dev.vars) and by the tests.
 *
 * @example
 * import { generateDevKey } from "./dev-key.mjs";
 * const jwk = await generateDevKey(); // { kty: "EC", crv: "P-256", x, y, d, kid: "dev-…" }
 */
import { webcrypto } from "node:crypto";

export async function generateDevKey(label = "dev") {
  const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const { kty, crv, x, y, d } = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
  const stamp = new Date().toISOString().slice(0, 10);
  const random = Buffer.from(webcrypto.getRandomValues(new Uint8Array(4))).toString("hex");
  return { kty, crv, x, y, d, kid: `${label.startsWith("dev-") ? label : `dev-${label}`}-${stamp}-${random}` };
}
