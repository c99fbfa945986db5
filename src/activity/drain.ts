/**
 * The user object's half of the activity move (issue 27, slice 5; the table is
 * src/activity/object-log.ts): taking a user's events staged in D1 into the object, deleting them
 * from D1 once kept, and reading a page after draining; since slice 8 also the alarm's drain,
 * ACTIVITY_DRAIN_DELAY_MS after a change that may have staged rows (`soon`, `drainStaged`). Runs
 * inside the object's serial queue (src/sessions/user-object.ts), so one drain at a time.
 *
 * @example
 * const drain = new ActivityDrain({ env: () => env, held, storage: ctx.storage });
 * const rows = await drain.read({ userId, sessionId, limit: 51 }); // null: the session is not live
 * await drain.release(userId);                                       // after answering
 * const at = drain.soon();              // a change may have staged rows: alarm at `at`
 * await drain.drainStaged(userId);      // the alarm: staged rows kept here, then deleted from D1
 */
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import { log } from "../http/log";
import type { HeldStore } from "../sessions/held-store";
import { livenessStatement } from "../sessions/statements";
import {
  ACTIVITY_DRAIN_DELAY_MS, DRAIN_LIMIT, activityPage, keepActivity, loggedEvent, markReleased, oldestActivity, pruneActivity, releaseStatement,
  stagedActivityStatement, stagedIds, stagedPageStatement,
} from "./object-log";
import type { LoggedEvent } from "./object-log";

/**
 * The object's KV key (`ctx.storage.kv`) saying "D1 may hold staged rows of this user" (`soon`),
 * holding a random mark: a drain clears it only if no change marked it again while it read D1.
 * KV, like the change ledger (src/sessions/profile-cache.ts): marking creates no table of the store.
 */
export const DRAIN_MARK = "activity:drain";

/** How many D1 batches one drain makes at most (a backlog past it is left for the next alarm). */
const DRAIN_ROUNDS = 8;

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

  /**
   * Marks that D1 may hold staged rows of this user (a change wrote some, or may have), and gives
   * when the object's alarm should drain them (ms): ACTIVITY_DRAIN_DELAY_MS from now. Synchronous.
   */
  soon(): number {
    this.parts.storage.kv.put(DRAIN_MARK, crypto.randomUUID());
    return Date.now() + ACTIVITY_DRAIN_DELAY_MS;
  }

  /** When rows kept here are still staged in D1, when to release them (ms, as `soon`); else null. */
  releaseSoon(): number | null {
    return this.releasing().length > 0 ? Date.now() + ACTIVITY_DRAIN_DELAY_MS : null;
  }

  /** True when a drain has work: D1 may hold staged rows (`soon`), or rows kept here are still staged there. No D1 trip. */
  due(): boolean {
    return this.parts.storage.kv.get(DRAIN_MARK) !== undefined || this.releasing().length > 0;
  }

  /**
   * The alarm's drain (issue 27, slice 8): until nothing is left, one D1 batch a round that deletes
   * the rows kept here still staged there (`releasing`) and, while marked by `soon`, reads up to
   * DRAIN_LIMIT staged rows, kept here (marked staged) after it (`drained`), so the next round
   * deletes them. A row is kept here before it leaves D1. Nothing marked and nothing kept staged:
   * no D1 trip; marked with nothing staged: one read, no write. Creates storage only for rows to
   * keep. Returns true when work is left after DRAIN_ROUNDS batches (drain again later). D1 errors
   * propagate (what was done stays done; the rest waits for the next drain).
   */
  async drainStaged(userId: string): Promise<boolean> {
    const kv = this.parts.storage.kv;
    for (let round = 0; round < DRAIN_ROUNDS; round++) {
      const mark = kv.get<string>(DRAIN_MARK);
      const released = this.releasing();
      if (mark === undefined && released.length === 0) return false;
      const db = drizzle(this.parts.env().DB);
      const statements = [
        ...(released.length > 0 ? [releaseStatement(db, userId, released)] : []),
        ...(mark === undefined ? [] : [stagedActivityStatement(db, userId)]),
      ];
      const results = await db.batch(statements as [(typeof statements)[number], ...(typeof statements)[number][]]);
      const staged = mark === undefined ? [] : (results[results.length - 1] as unknown[]);
      this.drained(released, staged);
      // A full read may have left more staged: the mark stays. Else it goes, unless a change marked it meanwhile.
      if (mark !== undefined && staged.length < DRAIN_LIMIT && kv.get(DRAIN_MARK) === mark) kv.delete(DRAIN_MARK);
    }
    return this.due();
  }

  /**
   * The alarm's drain for user `userId` (the object's name, `idFromName(userId)`), only when `due`:
   * else no D1 trip. Returns when to drain again (ms) when work is left, else null. A D1 failure is
   * logged and left for the next drain (the next sign-in's batch, list, change or alarm): a row is in
   * D1, or in both, never in neither.
   */
  async drainDue(userId: string | undefined): Promise<number | null> {
    if (userId === undefined || !this.due()) return null;
    try {
      return (await this.drainStaged(userId)) ? this.soon() : null;
    } catch (error) {
      log("warn", "activity.drain_failed", { message: error instanceof Error ? error.message : String(error) });
      return null;
    }
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
