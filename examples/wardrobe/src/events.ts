/**
 * The auth service's events, applied to the wardrobe's data (API.md §16, docs/events.md), once per
 * `webhook-id`. This module owns `processed_events` (migrations/0002_processed_events.sql).
 *
 * Delivery is at least once, so each event is applied in one D1 batch (one transaction) that first
 * claims its id (`INSERT … ON CONFLICT DO NOTHING`, with a random claim token) and then does its work
 * only where `processed_events` holds that very claim: a repeated delivery, even one racing the
 * first, changes nothing. What each type does:
 * - `user.deleted`: erases the user's items (any `reason`: self, link, admin, retention);
 * - `user.merged`: a guest signed into an existing account; the guest's items become the
 *   account's. If the account's `user.deleted` was applied already (events may arrive out of
 *   order), the moved items are erased with it, so nothing outlives the account;
 * - any other type: recorded, nothing to do (a guest's upgrade keeps its user id).
 *
 * @example
 * const event = await verifyWebhook(env.WEBHOOK_SECRET_WARDROBE, request.headers, body);
 * await applyEvent(env.DB, event); // "applied", or "duplicate" for a webhook-id seen before
 */
import type { WebhookEvent } from "edge-auth/server";
import { eraseItems, moveItems } from "./items";
import type { Condition } from "./items";

/** What `applyEvent` did: `applied` (first delivery of this id) or `duplicate` (seen before). */
export type Outcome = "applied" | "duplicate";

/** How long a handled id is kept, in ms: the service's feed keeps events (and redelivers) 30 days. */
export const PROCESSED_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const hasId = (value: unknown): value is { id: string } => isRecord(value) && typeof value.id === "string" && value.id.length > 0;

/**
 * Whether a verified body has the shape API.md §16 gives it: `{ id, type, sequence, timestamp, data }`
 * with `data.user.id`, and `data.guest.id` for `user.merged`. The signature proves the service sent
 * it; this guards the statements below against a body of another version.
 */
export function isWebhookEvent(value: unknown): value is WebhookEvent {
  if (!isRecord(value) || typeof value.id !== "string" || typeof value.type !== "string") return false;
  if (!Number.isSafeInteger(value.sequence) || !isRecord(value.data) || !hasId(value.data.user)) return false;
  return value.type !== "user.merged" || hasId(value.data.guest);
}

/**
 * Applies one verified event (`event.id` is its `webhook-id`) in one D1 batch. Resolves with the
 * outcome; rejects only when D1 does (the route then answers 500 and the service retries).
 */
export async function applyEvent(db: D1Database, event: WebhookEvent, now = Date.now()): Promise<Outcome> {
  const claim = crypto.randomUUID();
  const claimed: Condition = { sql: "EXISTS (SELECT 1 FROM processed_events WHERE id = ? AND claim = ?)", params: [event.id, claim] };
  const work: D1PreparedStatement[] = [];
  if (event.type === "user.deleted") {
    work.push(eraseItems(db, event.data.user.id, claimed));
  } else if (event.type === "user.merged") {
    const { guest, user } = event.data;
    work.push(moveItems(db, guest.id, user.id, claimed));
    const accountGone: Condition = {
      sql: `${claimed.sql} AND EXISTS (SELECT 1 FROM processed_events WHERE user_id = ? AND type = 'user.deleted')`,
      params: [...claimed.params, user.id],
    };
    work.push(eraseItems(db, user.id, accountGone));
  }
  const [first] = await db.batch([
    db
      .prepare("INSERT INTO processed_events (id, type, user_id, sequence, claim, processed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
      .bind(event.id, event.type, event.data.user.id, event.sequence, claim, now),
    ...work,
  ]);
  return first!.meta.changes > 0 ? "applied" : "duplicate";
}

/** Forgets ids handled more than `PROCESSED_RETENTION_MS` ago (the daily cron); resolves with how many. */
export async function pruneProcessedEvents(db: D1Database, now = Date.now()): Promise<number> {
  const result = await db.prepare("DELETE FROM processed_events WHERE processed_at < ?").bind(now - PROCESSED_RETENTION_MS).run();
  return result.meta.changes;
}
