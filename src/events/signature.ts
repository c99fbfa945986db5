/**
 * Standard Webhooks signing (standardwebhooks.com, spec "Signature scheme"): the headers of one
 * attempt. `webhook-signature` is `v1,` and the base64 of HMAC-SHA256, keyed with the secret's bytes
 * (the base64 after `whsec_`), over `<webhook-id>.<webhook-timestamp>.<body>`; the timestamp is
 * this attempt's, in seconds.
 *
 * @example
 * const headers = await signedHeaders(secretBytes, event.id, Math.floor(Date.now() / 1000), body);
 * await fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body });
 */
const encoder = new TextEncoder();

/** Standard base64 (with padding) of `bytes`. */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The `v1,<base64>` signature of `id.timestamp.body` (timestamp in seconds). */
export async function sign(secret: Uint8Array, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${base64(new Uint8Array(mac))}`;
}

/** The three Standard Webhooks headers of one attempt. */
export async function signedHeaders(secret: Uint8Array, id: string, timestamp: number, body: string): Promise<Record<string, string>> {
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": await sign(secret, id, timestamp, body) };
}
