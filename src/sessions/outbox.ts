/**
 * What the user's Durable Object owes D1 after starting a session itself (issue 27, slice 3;
 * docs/edge-sessions.md "Built: slice 3"): the sign-in's D1 writes (its session row, `sign_in`
 * event, `last_sign_in_at`, the account's cleared login count, the method's own statements, and the
 * revocations of the sessions the 6th-session rule ended) are kept in the object's storage
 * (`d1_outbox`, token-store migration v3) in the same transaction that starts the session, and
 * written to D1 as one batch by the object afterwards, off the sign-in's path.
 *
 * The object keeps one rule with it: **nothing it does reads or writes D1 for this user while an
 * entry is owed** (src/sessions/user-object.ts runs `flush` before every operation of its serial
 * queue, before a `beginChange` when something is owed, and from its alarm), so every D1 writer that
 * follows (a revocation, a change, the sign-in's D1 path) sees the session in D1, in order.
 *
 * Each entry is written at most once in effect: every statement but the method's own (`alsoRun`
 * from the Worker) is guarded by "the session row is not there yet", and the session's insert is the
 * batch's last statement. An entry is deleted after its batch succeeded; a failed batch throws and
 * stays owed. Written twice (the object died between D1's commit and the entry's deletion: rare), the
 * method's own statements run twice: they set values (a passkey's last use, never moved backwards),
 * so that changes nothing. (Until slice 4 the login's in-flight release was one of them; the checks
 * in flight now live in the object's memory: src/rate-limit/attempt-gate.ts.)
 *
 * @example
 * addEntry(ctx.storage.sql, { sessionId, evicted: [], at: now, client, statements });
 * await flush(ctx.storage.sql, env.DB);          // true when something was written
 */
import { drizzle } from "drizzle-orm/d1";
import { and, notExists, eq } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { sessions } from "../db/schema";
import type { ClientInfo } from "../types";
import { OWED_WRITES_UNAVAILABLE } from "./owed-writes";
import { revocationStatements } from "./object-statements";
import { releaseStatement, stagedActivityStatement } from "../activity/object-log";

/** One D1 statement as text and bound values (drizzle's `toSQL()`), so it can be stored and sent. */
export interface RawStatement {
  sql: string;
  params: unknown[];
}

/** A sign-in's owed D1 writes. Times in ms. */
export interface OutboxEntry {
  /** The account (entries kept before slice 5 have none: their batch drains no activity). */
  userId?: string;
  /** The new session; its D1 insert is the last of `statements`. */
  sessionId: string;
  /** Sessions the 6th-session rule ended (revoked with reason `session_limit`, with their events). */
  evicted: string[];
  at: number;
  client: ClientInfo;
  /** The Worker's statements, in order (src/sessions/start-in-object.ts). */
  statements: RawStatement[];
}

/** A drizzle query as a `RawStatement`. */
export function rawStatement(query: { toSQL(): { sql: string; params: unknown[] } }): RawStatement {
  const { sql, params } = query.toSQL();
  return { sql, params };
}

/**
 * "The new session's row is not in D1 yet": the guard of an entry's statements, through the key of
 * `sessions` (user, id); an entry kept by code before its `userId` (none is owed for long) names the id alone.
 */
export const notWrittenYet = (db: DrizzleD1Database, userId: string | undefined, sessionId: string) =>
  notExists(db.select({ id: sessions.id }).from(sessions).where(and(userId === undefined ? undefined : eq(sessions.userId, userId), eq(sessions.id, sessionId))));

/**
 * JSON with bytes: a bound BLOB (an ArrayBuffer or a view, such as a passkey's rewritten credential
 * id: src/passkeys/bytes.ts) is kept as an array of its byte values, which D1 binds as a BLOB as it
 * is (D1's client sends every BLOB so), so an entry reads back with a plain `JSON.parse`, in this
 * version and in the one before (after a rollback, an owed entry is still written).
 */
const keepBytes = (_key: string, value: unknown) =>
  value instanceof ArrayBuffer ? Array.from(new Uint8Array(value)) : ArrayBuffer.isView(value) ? Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) : value;

/** Keeps an entry (call inside the transaction that starts the session). */
export function addEntry(sql: SqlStorage, entry: OutboxEntry): void {
  sql.exec("INSERT INTO d1_outbox (json) VALUES (?)", JSON.stringify(entry, keepBytes));
}

/** True when an entry is owed. `sql` must have the table (token-store v3). */
export function owed(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM d1_outbox LIMIT 1").toArray().length > 0;
}

/** What `flush` tells the object as it writes (both optional). */
export interface FlushListener {
  /**
   * Each written entry's evicted sessions (ids), now revoked in D1: the object forgets any check
   * answer kept for them (src/sessions/profile-cache.ts `forget`), read before this write, e.g. after a restart.
   */
  onEvicted?: (sessionIds: string[]) => void;
  /**
   * The activity drain (src/activity/drain.ts), for entries that name their account: `releasing()`
   * gives the ids of staged rows the object already keeps, deleted from D1 at the start of the
   * entry's batch; the batch ends by reading what is staged now (so it holds the batch's own events,
   * the evictions'); `drained` gets both after the batch succeeded.
   */
  drain?: { releasing(): string[]; drained(released: string[], staged: unknown[]): void };
}

/**
 * Writes every owed entry to D1, oldest first, one batch each, and deletes each after its batch
 * succeeded. Returns true when something was written; a D1 error throws an Error whose message
 * starts with OWED_WRITES_UNAVAILABLE (the rest stays owed).
 */
export async function flush(sql: SqlStorage, d1: D1Database, listener: FlushListener = {}): Promise<boolean> {
  const entries = sql.exec<{ seq: number; json: string }>("SELECT seq, json FROM d1_outbox ORDER BY seq").toArray();
  const db = drizzle(d1);
  for (const { seq, json } of entries) {
    const entry = JSON.parse(json) as OutboxEntry;
    const evictions = entry.evicted.length > 0 ? revocationStatements(db, entry.userId, entry.evicted, "session_limit", entry.at, entry.client, notWrittenYet(db, entry.userId, entry.sessionId)).map(rawStatement) : [];
    const drain = entry.userId === undefined ? undefined : listener.drain;
    const released = drain?.releasing() ?? [];
    const release = released.length > 0 ? [rawStatement(releaseStatement(db, entry.userId!, released))] : [];
    const read = drain ? [rawStatement(stagedActivityStatement(db, entry.userId!))] : [];
    const statements = [...release, ...evictions, ...entry.statements, ...read].map((s) => d1.prepare(s.sql).bind(...s.params));
    let results: D1Result[];
    try {
      results = await d1.batch(statements);
    } catch (error) {
      // Kept (D1's own message too, for src/http/errors.ts `goneUserError`): the caller answers 503, not 500.
      throw new Error(`${OWED_WRITES_UNAVAILABLE}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    // Kept before the entry is deleted: a restart between the two reads the rows again (kept once).
    drain?.drained(released, results[results.length - 1]?.results ?? []);
    sql.exec("DELETE FROM d1_outbox WHERE seq = ?", seq);
    if (entry.evicted.length > 0) listener.onEvicted?.(entry.evicted);
  }
  return entries.length > 0;
}
