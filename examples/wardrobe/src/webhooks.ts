/**
 * `POST /webhooks`: the auth service's Standard Webhooks deliveries (API.md §16). Each is verified
 * with the SDK's `verifyWebhook` and the secret `WEBHOOK_SECRET_WARDROBE` (the same `whsec_…` value
 * as the service's secret of its `WEBHOOKS` endpoint `wardrobe`), then applied once per
 * `webhook-id` (src/events.ts). Answers:
 * - 204: applied, or a duplicate of an id already handled (the service stops retrying either way);
 * - 400 `invalid_signature`: a missing or bad signature, or a timestamp more than 5 minutes off;
 *   400 `invalid_event`: signed, but not an event of §16's shape. Nothing changes;
 * - 413 `payload_too_large` above 64 KiB; 503 `not_configured` without the secret (both retried).
 *
 * @example
 * // the service's env: WEBHOOKS='{"wardrobe":{"url":"https://wardrobe.example.com/webhooks"}}'
 * //                   WEBHOOK_SECRET_WARDROBE=whsec_…   (and the same secret in this app)
 * app.route("/webhooks", webhooks);
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { verifyWebhook, WebhookVerificationError } from "edge-auth/server";
import { applyEvent, isWebhookEvent } from "./events";
import { problem } from "./problem";

/** The largest body accepted, in bytes (§16's events are well under 2 KiB). */
const MAX_BODY_BYTES = 64 * 1024;

export const webhooks = new Hono<{ Bindings: Env }>();

webhooks.post(
  "/",
  bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problem(c, 413, "payload_too_large", `at most ${MAX_BODY_BYTES} bytes`) }),
  async (c) => {
    const secret = c.env.WEBHOOK_SECRET_WARDROBE;
    if (!secret) return problem(c, 503, "not_configured", "WEBHOOK_SECRET_WARDROBE is not set");
    const body = await c.req.text(); // the raw text: the signature covers these exact bytes
    let event: unknown;
    try {
      event = await verifyWebhook(secret, c.req.raw.headers, body);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      console.log(JSON.stringify({ event: "webhook.refused", reason: error.message }));
      return problem(c, 400, "invalid_signature", error.message);
    }
    // The signed webhook-id is the idempotency key; §16 makes it the body's id too.
    if (!isWebhookEvent(event) || event.id !== c.req.header("webhook-id")) {
      return problem(c, 400, "invalid_event", "not an event of API.md §16's shape, or its id is not the webhook-id");
    }
    const outcome = await applyEvent(c.env.DB, event);
    console.log(JSON.stringify({ event: "webhook.handled", webhookId: event.id, type: event.type, sequence: event.sequence, outcome }));
    return c.body(null, 204);
  },
);
