/**
 * The sweep (API.md §16 "nothing lost"), run by the cron trigger each minute: events committed more
 * than a minute ago and still not handed to the queue (the Worker died, or the send failed, after
 * the batch) are handed over now, oldest first, at most SWEEP_MAX a run. It reads only the partial
 * index of unqueued events, so a run with nothing to do costs one tiny read.
 *
 * @example
 * // wrangler.toml: crons = ["* * * * *"]; src/index.ts scheduled() → sweepEvents(env, config, controller.scheduledTime)
 */
import { and, asc, isNull, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Config } from "../config";
import { handOff } from ".";
import { events } from "./schema";

/** An event younger than this is left to its own request's hand-off (ms). */
export const SWEEP_AFTER_MS = 60_000;
/** The most events one run hands over; the rest go in the next minute's. */
export const SWEEP_MAX = 500;

/** Hands over the unqueued events committed before `now - SWEEP_AFTER_MS` (ms); returns how many. */
export async function sweepEvents(env: Env, config: Config, now = Date.now()): Promise<number> {
  const rows = await drizzle(env.DB)
    .select({ id: events.id, type: events.type })
    .from(events)
    .where(and(isNull(events.queuedAt), lte(events.createdAt, now - SWEEP_AFTER_MS)))
    .orderBy(asc(events.sequence))
    .limit(SWEEP_MAX);
  await handOff(env, config, rows, now);
  return rows.length;
}
