/**
 * Events for the app (API.md §16): the outbox, its hand-off to the queue, delivery, and the feed.
 *
 * A change and its event commit in one D1 batch (the builders of ./statements.ts). After the batch,
 * `publish` hands the event to the `EVENTS` queue once the answer is sent (`waitUntil`): one message
 * per endpoint that takes the event's type, then `queued_at` is set. A Worker that dies in between
 * leaves `queued_at` null; the sweep that runs each minute (./sweep.ts) hands such events over, so
 * every commit leads to a delivery (at least once: an event handed twice is delivered once per
 * endpoint unless both copies are in flight together; receivers dedupe on `webhook-id`). The
 * consumer (./consumer.ts) signs and POSTs each attempt; the feed (./feed.ts) lists the events with
 * each endpoint's delivery state.
 *
 * @example
 * const created = userEvent(db, "user.created", userId);
 * await db.batch([insertUser, created.statement]);
 * publish(deps, created);
 */
import { and, inArray, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Config } from "../config";
import type { Deps } from "../http/deps";
import { log } from "../http/log";
import { events } from "./schema";
import { endpointsFor } from "./settings";

export { userEvent, deletedEvent, mergedEvent, previousChanged } from "./statements";
export type { PendingEvent, DeletionReason } from "./statements";
export { EVENT_TYPES } from "./settings";
export type { EventType } from "./settings";

/** A queue message: one delivery of one event to one endpoint (the event itself is read from D1). */
export interface DeliveryMessage {
  eventId: string;
  endpoint: string;
}

/** At most this many messages per `sendBatch` (Cloudflare Queues' limit). */
const SEND_BATCH_MAX = 100;

/**
 * Hands events to the queue: a message per (event, endpoint taking its type), then `queued_at =
 * now` on those still unqueued. Throws when the send fails (the events stay unqueued for the sweep).
 * When no endpoint takes any of the events there is nothing to send: a request's hand-off then
 * writes nothing either (`markIdle` false), and the sweep marks such events in bulk a minute later,
 * so an app that uses only the feed pays no write per event beyond the event itself.
 */
export async function handOff(env: Env, config: Config, rows: readonly { id: string; type: string }[], now = Date.now(), markIdle = true): Promise<void> {
  if (rows.length === 0) return;
  const messages = rows.flatMap((row) => endpointsFor(config.webhooks, row.type).map((e) => ({ body: { eventId: row.id, endpoint: e.name } satisfies DeliveryMessage, contentType: "json" as const })));
  if (messages.length === 0 && !markIdle) return;
  for (let i = 0; i < messages.length; i += SEND_BATCH_MAX) await env.EVENTS.sendBatch(messages.slice(i, i + SEND_BATCH_MAX));
  const db = drizzle(env.DB);
  const ids = rows.map((r) => r.id);
  // D1 binds at most 100 parameters a statement.
  for (let i = 0; i < ids.length; i += 90) {
    await db.update(events).set({ queuedAt: now }).where(and(inArray(events.id, ids.slice(i, i + 90)), isNull(events.queuedAt)));
  }
}

/**
 * After a batch that wrote `pending` events committed: hands them to the queue once the answer is
 * sent. A failure is logged (ids and the error's name only) and left to the sweep.
 */
export function publish(deps: Deps, ...pending: readonly { id: string; type: string }[]): void {
  if (pending.length === 0) return;
  deps.waitUntil(
    handOff(deps.env, deps.config, pending, Date.now(), false).catch((error: unknown) => {
      log("warn", "events.hand_off_failed", { requestId: deps.requestId, eventIds: pending.map((p) => p.id), reason: error instanceof Error ? error.name : "unknown" });
    }),
  );
}
