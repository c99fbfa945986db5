/**
 * `verifyWebhook` (API.md §16): checks one webhook the service sent, per the Standard Webhooks
 * specification (standardwebhooks.com): the `webhook-signature` header holds one or more
 * space-separated `v1,<base64>` signatures, each an HMAC-SHA256 keyed with the secret's bytes (the
 * base64 after `whsec_`) over `<webhook-id>.<webhook-timestamp>.<body>`; the timestamp (seconds)
 * must be within 5 minutes of now. WebCrypto only (Workers, Node ≥ 20, browsers, Deno, Bun); the
 * comparison is `crypto.subtle.verify`'s, in constant time.
 *
 * Pass the body exactly as received (`await request.text()`), never a re-serialised object.
 *
 * @example
 * import { verifyWebhook } from "edge-auth/server";
 * const body = await request.text();
 * const event = await verifyWebhook(env.WEBHOOK_SECRET_APP, request.headers, body); // throws WebhookVerificationError
 * if (event.type === "user.deleted") await eraseRowsOf(event.data.user.id);
 */
import type * as Service from "../../src/types";

/** API.md §3 `User`, as the events carry it (the service's type, src/types.ts). */
type PublicUser = Service.PublicUser;

/** The event types API.md §16 lists. */
export type WebhookEventType = "user.created" | "user.upgraded" | "user.updated" | "user.disabled" | "user.enabled" | "user.deleted" | "user.merged";

/** A verified event: the body the service POSTed (API.md §16). */
export type WebhookEvent =
  | { id: string; type: "user.created" | "user.upgraded" | "user.updated" | "user.disabled" | "user.enabled"; sequence: number; timestamp: string; data: { user: PublicUser } }
  | { id: string; type: "user.deleted"; sequence: number; timestamp: string; data: { user: { id: string }; reason: "self" | "link" | "admin" | "retention" } }
  | { id: string; type: "user.merged"; sequence: number; timestamp: string; data: { guest: { id: string }; user: PublicUser } };

/** Thrown by `verifyWebhook`: `message` says what failed (never the secret or a signature). */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** How far `webhook-timestamp` may be from now, in seconds (Standard Webhooks' tolerance). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

const encoder = new TextEncoder();

function header(headers: Headers | Record<string, string | string[] | undefined>, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(" ") : value;
}

function fromBase64(value: string): Uint8Array<ArrayBuffer> | null {
  try {
    return Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * Verifies and parses one webhook. `secret`: the endpoint's `WEBHOOK_SECRET_<NAME>` (`whsec_…`);
 * `headers`: a `Headers` or a plain object (Node's `req.headers`); `body`: the raw body text.
 * `now` (ms) is for tests. Throws `WebhookVerificationError` for a missing header, a timestamp more
 * than 5 minutes off, or no valid `v1` signature; returns the event otherwise.
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers | Record<string, string | string[] | undefined>,
  body: string,
  now = Date.now(),
): Promise<WebhookEvent> {
  const key = secret.startsWith("whsec_") ? fromBase64(secret.slice("whsec_".length)) : null;
  if (!key || key.length === 0) throw new WebhookVerificationError("the secret is not whsec_ and base64");
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!Number.isFinite(seconds) || Math.abs(now / 1000 - seconds) > WEBHOOK_TOLERANCE_SECONDS) {
    throw new WebhookVerificationError("the timestamp is more than 5 minutes off");
  }
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const signed = encoder.encode(`${id}.${timestamp}.${body}`);
  for (const entry of signatures.split(" ")) {
    const [version, value] = entry.split(",", 2);
    const mac = version === "v1" && value ? fromBase64(value) : null;
    if (mac && (await crypto.subtle.verify("HMAC", hmac, mac, signed))) {
      try {
        return JSON.parse(body) as WebhookEvent;
      } catch {
        throw new WebhookVerificationError("the body is not JSON");
      }
    }
  }
  throw new WebhookVerificationError("no valid signature");
}
