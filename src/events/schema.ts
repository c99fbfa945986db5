/**
 * The tables of src/events/ (API.md §16): `events`, the outbox and feed of user changes, each row
 * written in the same D1 batch as the change it reports; and `event_deliveries`, one row per event
 * and webhook endpoint once a delivery was tried (its state for the feed).
 *
 * `sequence` is an INTEGER PRIMARY KEY AUTOINCREMENT: SQLite hands it out inside the writing
 * transaction, and D1 runs one transaction at a time, so it increases in commit order and is never
 * reused (even after the newest rows are purged).
 *
 * @example
 * import { events } from "./schema";
 * const unqueued = await db.select().from(events).where(isNull(events.queuedAt));
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const events = sqliteTable(
  "events",
  {
    sequence: integer("sequence").primaryKey({ autoIncrement: true }),
    /** UUID: the Standard Webhooks `webhook-id`, the same in every attempt to every endpoint. */
    id: text("id").notNull().unique(),
    /** `user.created`, `user.upgraded`, `user.updated`, `user.disabled`, `user.enabled`, `user.deleted`, `user.merged`. */
    type: text("type").notNull(),
    /** The event's `data`, JSON text (API.md §16). */
    data: text("data").notNull(),
    createdAt: integer("created_at").notNull(),
    /** When the event was handed to the queue (ms); null until then (the sweep looks for these). */
    queuedAt: integer("queued_at"),
  },
  // Only the events not yet handed to the queue: a handful at any time, so the sweep's read is tiny.
  (t) => [index("events_unqueued_idx").on(t.sequence).where(sql`queued_at IS NULL`)],
);

export const eventDeliveries = sqliteTable(
  "event_deliveries",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    /** The endpoint's name in WEBHOOKS. */
    endpoint: text("endpoint").notNull(),
    /** `pending`, `delivered` or `failed`. */
    status: text("status").notNull(),
    /** Attempts made so far, every round counted. */
    attempts: integer("attempts").notNull(),
    /** Why the last attempt failed (`HTTP 503`, `timeout`, `network error`); null once delivered. */
    lastError: text("last_error"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventId, t.endpoint] })],
);

export type EventRow = typeof events.$inferSelect;
export type DeliveryRow = typeof eventDeliveries.$inferSelect;
