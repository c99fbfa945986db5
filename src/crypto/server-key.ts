/**
 * HMAC-SHA-256 keys derived from the service's secrets (the signing key's private part and
 * `PASSWORD_PEPPER`), one per purpose, never stored: SHA-256(`purpose` ‖ 0 ‖ pepper ‖ 0 ‖ d) as the
 * key's bytes. A value keyed this way (an email code's hash, a passkey sign-in challenge) cannot be
 * computed or checked offline by anyone holding the database alone. Rotating either secret changes
 * every key (the values of the minutes before stop matching: docs/deploying.md). Cached per config
 * and purpose.
 *
 * @example
 * const key = await serverHmacKey(config, "email-code");
 * const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
 */
import type { Config } from "../config";

const encoder = new TextEncoder();
const keys = new WeakMap<Config, Map<string, Promise<CryptoKey>>>();

/** The HMAC-SHA-256 signing key for `purpose` (a short fixed label, e.g. "email-code"). */
export function serverHmacKey(config: Config, purpose: string): Promise<CryptoKey> {
  let byPurpose = keys.get(config);
  if (!byPurpose) keys.set(config, (byPurpose = new Map()));
  let key = byPurpose.get(purpose);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", encoder.encode(`${purpose}\u0000${config.pepper ?? ""}\u0000${config.signingKey.d}`))
      .then((material) => crypto.subtle.importKey("raw", material, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    byPurpose.set(purpose, key);
  }
  return key;
}
