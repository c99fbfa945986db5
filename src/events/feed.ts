/**
 * The feed (API.md §16, admin key): events oldest first after a cursor, with each endpoint's
 * delivery state, and redelivery. The cursor is the `sequence` of the last event the caller has
 * (decimal), so an app that stored the `sequence` of the last webhook it processed can ask for
 * everything after it. Also the daily clean-up's purge (EVENT_RETENTION_DAYS).
 *
 * @example
 * const page = await listEvents(deps, { after: "41", limit: 100, type: "user.deleted" });
 * await redeliver(deps, page.events[0].id); // 202
 */
import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { eventBody } from "./consumer";
import { eventDeliveries, events } from "./schema";
import type { DeliveryRow, EventRow } from "./schema";
import { endpointsFor } from "./settings";

/** One endpoint's state for an event (API.md §16). */
export interface DeliveryView {
  endpoint: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  lastError: string | null;
}

/** An event of the feed: the webhook body and its deliveries. */
export type FeedEvent = ReturnType<typeof eventBody> & { deliveries: DeliveryView[] };

export interface FeedQuery {
  /** The `sequence` of the last event already seen (decimal); left out: from the oldest kept. */
  after?: string | undefined;
  limit: number;
  type?: string | undefined;
}

/**
 * Each endpoint that takes the event's type (a row, or pending with no attempt yet), then any other
 * endpoint that has a row (an endpoint since removed from WEBHOOKS, or whose filter changed).
 */
function view(deps: Deps, row: EventRow, rows: DeliveryRow[]): FeedEvent {
  const byName = new Map(rows.map((r) => [r.endpoint, r]));
  const names = [...endpointsFor(deps.config.webhooks, row.type).map((e) => e.name), ...rows.map((r) => r.endpoint)];
  const deliveries = [...new Set(names)].map((endpoint): DeliveryView => {
    const found = byName.get(endpoint);
    return found
      ? { endpoint, status: found.status as DeliveryView["status"], attempts: found.attempts, lastError: found.lastError }
      : { endpoint, status: "pending", attempts: 0, lastError: null };
  });
  return { ...eventBody(row), deliveries };
}

async function withDeliveries(deps: Deps, db: DrizzleD1Database, rows: EventRow[]): Promise<FeedEvent[]> {
  if (rows.length === 0) return [];
  const deliveries = await db.select().from(eventDeliveries).where(inArray(eventDeliveries.eventId, rows.map((r) => r.id)));
  return rows.map((row) => view(deps, row, deliveries.filter((d) => d.eventId === row.id)));
}

/** `GET /v1/admin/events`: `limit` events after `after`, oldest first; `nextCursor` null when no more now. */
export async function listEvents(deps: Deps, query: FeedQuery): Promise<{ events: FeedEvent[]; nextCursor: string | null }> {
  let after = 0;
  if (query.after !== undefined && query.after !== "") {
    if (!/^\d{1,15}$/.test(query.after)) throw invalidRequest("after", "must be the sequence of an event");
    after = Number(query.after);
  }
  const db = drizzle(deps.env.DB);
  const rows = await db
    .select()
    .from(events)
    .where(and(gt(events.sequence, after), query.type ? eq(events.type, query.type) : undefined))
    .orderBy(asc(events.sequence))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return { events: await withDeliveries(deps, db, page), nextCursor: rows.length > query.limit && last ? String(last.sequence) : null };
}

/**
 * `POST /v1/admin/events/:eventId/redeliver`: a fresh round of attempts (the whole retry schedule)
 * for every endpoint taking the event that has not had it delivered. 404 for an unknown (or purged)
 * event. Returns the event as the feed shows it now.
 */
export async function redeliver(deps: Deps, eventId: string): Promise<FeedEvent> {
  const db = drizzle(deps.env.DB);
  const row = await db.select().from(events).where(eq(events.id, eventId)).get();
  if (!row) throw new AuthError("not_found", "No such event");
  const delivered = await db
    .select({ endpoint: eventDeliveries.endpoint })
    .from(eventDeliveries)
    .where(and(eq(eventDeliveries.eventId, eventId), eq(eventDeliveries.status, "delivered")));
  const done = new Set(delivered.map((d) => d.endpoint));
  const targets = endpointsFor(deps.config.webhooks, row.type).filter((e) => !done.has(e.name));
  if (targets.length > 0) {
    const now = Date.now();
    // Shown as pending again at once; the attempts of earlier rounds stay counted.
    await db
      .update(eventDeliveries)
      .set({ status: "pending", updatedAt: now })
      .where(and(eq(eventDeliveries.eventId, eventId), inArray(eventDeliveries.endpoint, targets.map((t) => t.name)), sql`${eventDeliveries.status} <> 'delivered'`));
    await deps.env.EVENTS.sendBatch(targets.map((t) => ({ body: { eventId, endpoint: t.name }, contentType: "json" as const })));
    if (row.queuedAt === null) await db.update(events).set({ queuedAt: now }).where(and(eq(events.id, eventId), isNull(events.queuedAt)));
  }
  const [fresh] = await withDeliveries(deps, db, [row]);
  return fresh!;
}

/**
 * Deletes events older than `before` (ms), with their deliveries (cascade): the daily clean-up's
 * part. Events are in `created_at` order along `sequence`, so it finds the first event to keep by
 * walking the primary key from the oldest, and deletes the range before it: no index on
 * `created_at` is needed (one would cost every sign-up a write).
 */
export function purgeEventsStatement(db: DrizzleD1Database, before: number) {
  const firstKept = sql`(SELECT ${events.sequence} FROM ${events} WHERE ${events.createdAt} >= ${before} ORDER BY ${events.sequence} LIMIT 1)`;
  return db.delete(events).where(sql`${events.sequence} < COALESCE(${firstKept}, (SELECT COALESCE(MAX(${events.sequence}), 0) + 1 FROM ${events}))`);
}
