/**
 * The second factor's secrets at rest (API.md §15): TOTP secrets encrypted with AES-256-GCM under
 * MFA_ENCRYPTION_KEY (a fresh 96-bit IV each time, the factor's id and user id as additional data, so
 * a sealed secret copied to another row does not open), and recovery codes as HMAC-SHA-256 under a
 * key derived from the same secret, so a leaked table alone allows no offline guessing.
 *
 * @example
 * const sealed = await sealSecret(config, { factorId, userId }, secret);
 * const secret = await openSecret(config, { factorId, userId }, sealed); // Uint8Array
 * const hash = await recoveryCodeHash(config, "abcd-efgh-jkmn");
 */
import type { Config } from "../config";
import { base64url, fromBase64url } from "../crypto";
import { AuthError } from "../http/errors";

const encoder = new TextEncoder();
interface Keys {
  aes: CryptoKey;
  hmac: CryptoKey;
}
const cache = new WeakMap<Config, Promise<Keys>>();

/** Whether MFA_ENCRYPTION_KEY is set: without it the enrol route is a 404 (API.md §15). */
export const mfaConfigured = (config: Config) => config.mfaEncryptionKey !== undefined;

function keys(config: Config): Promise<Keys> {
  let found = cache.get(config);
  if (!found) {
    const raw = config.mfaEncryptionKey;
    if (!raw) throw new AuthError("not_found", "The second factor is not configured");
    found = (async () => {
      const material = fromBase64url(raw) as Uint8Array<ArrayBuffer>;
      const aes = await crypto.subtle.importKey("raw", material, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
      const derived = await crypto.subtle.digest("SHA-256", new Uint8Array([...encoder.encode("recovery-code\u0000"), ...material]));
      const hmac = await crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return { aes, hmac };
    })();
    cache.set(config, found);
  }
  return found;
}

const additionalData = (owner: { factorId: string; userId: string }) => encoder.encode(`mfa-factor\u0000${owner.factorId}\u0000${owner.userId}`);

/** base64url(IV ‖ ciphertext ‖ tag). */
export async function sealSecret(config: Config, owner: { factorId: string; userId: string }, secret: Uint8Array): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: additionalData(owner) }, (await keys(config)).aes, secret as Uint8Array<ArrayBuffer>);
  return base64url(new Uint8Array([...iv, ...new Uint8Array(sealed)]));
}

/** The secret, or throws (a wrong key or a tampered row: an internal error, never shown). */
export async function openSecret(config: Config, owner: { factorId: string; userId: string }, sealed: string): Promise<Uint8Array> {
  const bytes = fromBase64url(sealed);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: additionalData(owner) },
    (await keys(config)).aes,
    bytes.slice(12) as Uint8Array<ArrayBuffer>,
  );
  return new Uint8Array(plain);
}

/** A recovery code as typed (any case, dashes and spaces ignored), normalised. */
export const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]+/g, "");

/** HMAC-SHA-256 (base64url) of the normalised recovery code. */
export async function recoveryCodeHash(config: Config, code: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", (await keys(config)).hmac, encoder.encode(normalizeRecoveryCode(code)));
  return base64url(new Uint8Array(mac));
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** How many recovery codes a set holds (API.md §15). */
export const RECOVERY_CODE_COUNT = 10;

/** A recovery code: 12 characters of base32 (60 random bits), shown as `xxxx-xxxx-xxxx`. */
export function newRecoveryCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const chars = [...bytes].map((b) => ALPHABET[b & 31]).join("");
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}
