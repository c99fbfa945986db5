/**
 * One Durable Object per client address (an IPv4 address, or an IPv6 /64), holding every bucket of
 * that address, so one request costs one round trip whatever its bucket.
 *
 * Algorithm: a sliding-window log. Each allowed request leaves its timestamp; a request passes when
 * fewer than `limit` timestamps of its bucket fall within the last `windowSeconds`. It is exact: no
 * window of that length ever holds more than `limit` requests, with no burst at window edges (a
 * fixed window allows up to twice the limit there) and no drift (a token bucket refills
 * continuously, so it admits requests the table's "N per window" would not). Refused requests leave
 * no timestamp, so a bucket's window holds at most `limit` rows; the limits are small, so it costs
 * little. Windows may be anything from a second to a day, which Cloudflare's rate-limit binding
 * (10 or 60 s, counted per location) cannot express.
 *
 * Every allowed hit is stored (table `hits`) before the answer leaves, so the log survives eviction;
 * the instance also keeps each bucket's log in memory, an exact mirror read once per bucket, so a
 * decision costs no SQL read and an allowed request one INSERT (a refused one none).
 *
 * `consume` is synchronous work with no await, so concurrent calls cannot interleave: 20 parallel
 * requests let exactly `limit` through. One alarm, set when none is pending, drops expired hits and
 * clears the object's storage once none is left.
 *
 * The schema is versioned (`RATE_LIMITER_MIGRATIONS`, src/db/object-migrations.ts), applied by an
 * instance's first call (synchronously, so no call sees it half done, and on a new object in the
 * same transaction as its first hit) and again by the first call after the alarm cleared storage.
 *
 * @example
 * const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("203.0.113.7"));
 * const decision = await stub.consume("login", 5, 60);
 * if (!decision.allowed) decision.retryAfter; // seconds
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "../db/object-migrations";
import type { Migration } from "../db/object-migrations";
import { AttemptGate } from "./attempt-gate";
import type { ReleaseInput, ReserveInput, ReserveOutcome } from "./attempt-gate";

/**
 * The limiter's schema, version n at index n - 1. Append only. Version 1 is the schema from before
 * versioning, idempotent so objects created then adopt it as they are.
 */
export const RATE_LIMITER_MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(`
      CREATE TABLE IF NOT EXISTS hits (bucket TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS hits_bucket_at ON hits (bucket, at);
    `),
];

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until one more request would pass (until the hit blocking it leaves the window). */
  reset: number;
  /** `reset` when refused, else 0. */
  retryAfter: number;
}

export class RateLimiter extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** When this instance last scheduled the cleanup alarm; 0 after eviction or once storage is cleared. */
  #alarmAt = 0;
  /**
   * Each bucket's hits inside its window, oldest first: an exact mirror of its rows in `hits`, read
   * once per bucket and instance (only this object writes them), so deciding costs no SQL and an
   * allowed request costs one INSERT. Dropped by the alarm, which deletes rows.
   */
  readonly #logs = new Map<string, number[]>();
  /** Whether this instance brought the schema up to date; false again once the alarm cleared storage. */
  #migrated = false;

  /** Password checks in flight for an identifier no account has (src/rate-limit/login-attempt.ts): memory only. */
  readonly #attempts = new AttemptGate();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
  }

  consume(bucket: string, limit: number, windowSeconds: number): RateDecision {
    // Migrated on the first call, synchronously, so no call sees a schema mid-change; on a new
    // object its writes commit together with the first hit's and the alarm's, in one transaction.
    this.#migrate();
    const now = Date.now();
    const windowMs = windowSeconds * 1000;
    const log = this.#logOf(bucket, now - windowMs);
    const allowed = log.length < limit;
    if (allowed) {
      // Stored before it is counted in memory: a failed write leaves the mirror as the table is.
      this.#sql.exec("INSERT INTO hits (bucket, at, expires_at) VALUES (?, ?, ?)", bucket, now, now + windowMs);
      insertSorted(log, now);
      this.#scheduleCleanup(now + windowMs);
    }
    const count = log.length;
    // One more request passes once the count drops below the limit. Usually that is when the oldest
    // hit leaves; after the limit was lowered by config, more hits than `limit` may be counted, and
    // it is the hit at index (count - limit) whose exit brings the count down far enough.
    const freesAt = log[Math.max(0, count - limit)]! + windowMs;
    const reset = Math.max(1, Math.ceil((freesAt - now) / 1000));
    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - count),
      reset,
      retryAfter: allowed ? 0 : reset,
    };
  }

  /** Reserves one password check of an unknown identifier (objects named `login:<hash>`); stores nothing. */
  reserveAttempt(input: ReserveInput): Promise<ReserveOutcome> {
    return this.#attempts.reserve(input);
  }

  /** Ends a reservation of `reserveAttempt`. */
  releaseAttempt(input: ReleaseInput): void {
    this.#attempts.release(input);
  }

  /**
   * The bucket's hits after `since` (ms), oldest first: read from `hits` on the bucket's first use by
   * this instance, then kept in memory with the hits that left the window dropped. Expired rows stay
   * in the table until the alarm deletes them; no read counts them.
   */
  #logOf(bucket: string, since: number): number[] {
    let log = this.#logs.get(bucket);
    if (!log) {
      log = Array.from(this.#sql.exec<{ at: number }>("SELECT at FROM hits WHERE bucket = ? AND at > ? ORDER BY at", bucket, since).raw(), (row) => row[0] as number);
      this.#logs.set(bucket, log);
      return log;
    }
    let left = 0;
    while (left < log.length && log[left]! <= since) left++;
    if (left > 0) log.splice(0, left);
    return log;
  }

  /**
   * Sets the alarm only when none is pending, not on every call: the alarm itself moves on to the
   * latest expiry, and hits that expire before it runs are already ignored by `consume`. Only an
   * allowed request sets it: a refused one stores nothing, and the hits refusing it have an alarm.
   */
  #scheduleCleanup(at: number): void {
    if (this.#alarmAt > Date.now()) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  #migrate(): void {
    if (this.#migrated) return;
    migrate(this.ctx.storage, RATE_LIMITER_MIGRATIONS);
    this.#migrated = true;
  }

  /** Drops hits that left their window; an object with none left clears its storage entirely. */
  override async alarm(): Promise<void> {
    this.#migrate();
    this.#logs.clear();
    this.#sql.exec("DELETE FROM hits WHERE expires_at <= ?", Date.now());
    const next = this.#sql.exec<{ at: number | null }>("SELECT max(expires_at) AS at FROM hits").one().at;
    if (next === null) {
      // Left empty: the next call, if any, migrates the schema again.
      await this.ctx.storage.deleteAll();
      this.#logs.clear();
      this.#alarmAt = 0;
      this.#migrated = false;
    } else {
      this.#alarmAt = next;
      await this.ctx.storage.setAlarm(next);
    }
  }
}

/** Inserts `at` into the ascending `log`; at its end unless the clock stepped back. */
function insertSorted(log: number[], at: number): void {
  let index = log.length;
  while (index > 0 && log[index - 1]! > at) index--;
  log.splice(index, 0, at);
}
