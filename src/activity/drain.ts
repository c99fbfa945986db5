/**
 * The user object's half of the activity move (issue 27, slice 5; the table is
 * src/activity/object-log.ts): taking a user's events staged in D1 into the object, deleting them
 * from D1 once kept, and reading a page after draining. Runs inside the object's serial queue
 * (src/sessions/user-object.ts), so one drain at a time.
 *
 * @example
 * const drain = new ActivityDrain({ env: () => env, held, storage: ctx.storage });
 * const rows = await drain.read({ userId, sessionId, limit: 51 }); // null: the session is not live
 * await drain.release(userId);                                       // after answering
 */
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import { log } from "../http/log";
import type { HeldStore } from "../sessions/held-store";
import { livenessStatement } from "../sessions/statements";
import {
  activityPage, keepActivity, loggedEvent, markReleased, oldestActivity, pruneActivity, releaseStatement, stagedActivityStatement,
  stagedIds, stagedPageStatement,
} from "./object-log";
import type { LoggedEvent } from "./object-log";

/** What the drain works with: the object's bindings, its token store (which holds the table) and storage. */
export interface ActivityDrainParts {
  env: () => Env;
  held: HeldStore;
  storage: DurableObjectStorage;
}

/** A page request: `sessionId` names the caller's session (its liveness is read with the drain); none for an operator. */
export interface ActivityRead {
  userId: string;
  sessionId?: string | undefined;
  /** Rows to return, newest first (the caller asks one more than it shows, to know of a next page). */
  limit: number;
  before?: { createdAt: number; id: string } | undefined;
}

export class ActivityDrain {
  constructor(private readonly parts: ActivityDrainParts) {}

  /** The retention's edge now (ms): events created before it are dropped, never shown. */
  #since(): number {
    return Date.now() - loadConfig(this.parts.env()).activityRetentionMs;
  }

  /** The object's SQL, its store (and so the table) created and migrated if it had none. */
  #open(): SqlStorage {
    void this.parts.held.store;
    return this.parts.storage.sql;
  }

  /**
   * Keeps rows read from D1's staging (a batch's result; drizzle rows or raw columns), marked staged.
   * Creates the object's storage only when there is something to keep. Synchronous.
   */
  take(rows: readonly unknown[]): void {
    if (rows.length === 0) return;
    const sql = this.#open();
    const events = rows.map((r) => loggedEvent(r as Record<string, unknown>));
    this.parts.storage.transactionSync(() => keepActivity(sql, events, { staged: true, before: this.#since() }));
  }

  /** Keeps an event written by the object itself (not staged), in the caller's transaction. */
  keep(event: LoggedEvent): void {
    keepActivity(this.#open(), [event], { staged: false, before: this.#since() });
  }

  /** The ids to delete from D1 (at most DRAIN_LIMIT): rows kept here still staged there. */
  releasing(): string[] {
    return this.parts.held.existing ? stagedIds(this.parts.storage.sql) : [];
  }

  /**
   * After a D1 batch that deleted `released` (from `releasing`) and read `staged`: clears the marks
   * (and drops the released rows past the retention), keeps the rows read.
   */
  drained(released: string[], staged: readonly unknown[]): void {
    if (released.length > 0 && this.parts.held.existing) {
      markReleased(this.parts.storage.sql, released);
      pruneActivity(this.parts.storage.sql, this.#since());
    }
    this.take(staged);
  }

  /**
   * Deletes from D1 the rows kept here that are still staged there (one D1 write, only when there
   * are some), then clears their mark. A D1 failure
   * is logged and left for the next drain (the rows are kept in both meanwhile, and shown once).
   */
  async release(userId: string): Promise<void> {
    const ids = this.releasing();
    if (ids.length === 0) return;
    try {
      await releaseStatement(drizzle(this.parts.env().DB), userId, ids);
    } catch (error) {
      log("warn", "activity.release_failed", { rows: ids.length, message: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.drained(ids, []);
  }

  /**
   * One page, exact whatever is still staged: one D1 batch (the caller's session's liveness when
   * `sessionId` is given, D1's page of staged rows with the same cursor, and up to DRAIN_LIMIT staged
   * rows to take), merged with the page kept here (each id once). Null when that session is not live
   * (or its account is disabled or gone). Drops what is past the retention here first.
   */
  async read(input: ActivityRead): Promise<LoggedEvent[] | null> {
    const db = drizzle(this.parts.env().DB);
    const page = stagedPageStatement(db, input.userId, input.limit, input.before);
    const staged = stagedActivityStatement(db, input.userId);
    let d1Page: readonly unknown[];
    let rows: readonly unknown[];
    if (input.sessionId) {
      const [live, found, taken] = await db.batch([livenessStatement(db, { userId: input.userId, sessionId: input.sessionId }, Date.now()), page, staged]);
      if (live.length === 0) return null;
      [d1Page, rows] = [found, taken];
    } else {
      [d1Page, rows] = await db.batch([page, staged]);
    }
    this.take(rows);
    const since = this.#since();
    const kept = this.parts.held.existing ? (pruneActivity(this.parts.storage.sql, since), activityPage(this.parts.storage.sql, { limit: input.limit, before: input.before, since })) : [];
    const merged = new Map(kept.map((e) => [e.id, e]));
    for (const row of d1Page) {
      const e = loggedEvent(row as Record<string, unknown>);
      if (e.created_at >= since && !merged.has(e.id)) merged.set(e.id, e);
    }
    return [...merged.values()].sort((x, y) => y.created_at - x.created_at || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0)).slice(0, input.limit);
  }

  /** Drops the rows kept past the retention, and gives when the next one will be (ms), or null when none is kept. */
  expire(): number | null {
    if (!this.parts.held.existing) return null;
    const since = this.#since();
    pruneActivity(this.parts.storage.sql, since);
    const oldest = oldestActivity(this.parts.storage.sql);
    return oldest === null ? null : oldest + (Date.now() - since);
  }
}
