/**
 * base64url (RFC 4648 §5, no padding) to and from bytes: plain JavaScript, no WebCrypto, so modules
 * whose types other programs compile (the schemas, through the SDK's declarations) can use it.
 *
 * @example
 * base64url(new Uint8Array([251, 255])); // "-_8"
 * fromBase64url("-_8");                  // Uint8Array [251, 255]; throws on characters outside the alphabet
 */

/** `bytes` as base64url text without padding. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of base64url text (padding optional); throws (atob's DOMException) on text that is not base64. */
export function fromBase64url(value: string): Uint8Array {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

