/** The `counters` table (owned by src/rate-limit/). */
import { sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Fixed-window counters keyed by account or by email hash, updated by one atomic upsert each.
 * Per-IP limits live in the RateLimiter Durable Object instead.
 */
export const counters = sqliteTable("counters", {
  key: text("key").primaryKey(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull().default(sql`0`),
});
