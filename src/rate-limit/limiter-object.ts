/**
 * One Durable Object per client address (an IPv4 address, or an IPv6 /64), holding every bucket of
 * that address, so one request costs one round trip whatever its bucket.
 *
 * Algorithm: a sliding-window log. Each allowed request leaves its timestamp; a request passes when
 * fewer than `limit` timestamps of its bucket fall within the last `windowSeconds`. It is exact: no
 * window of that length ever holds more than `limit` requests, with no burst at window edges (a
 * fixed window allows up to twice the limit there) and no drift (a token bucket refills
 * continuously, so it admits requests the table's "N per window" would not). Refused requests leave
 * no timestamp, so the log holds at most `limit` rows per bucket; the limits are small, so it costs
 * little. Windows may be anything from a second to a day, which Cloudflare's rate-limit binding
 * (10 or 60 s, counted per location) cannot express.
 *
 * `consume` is synchronous SQLite work with no await, so concurrent calls cannot interleave: 20
 * parallel requests let exactly `limit` through. One alarm, set when none is pending, drops expired
 * hits and clears the object's storage once none is left.
 *
 * The schema is versioned (`RATE_LIMITER_MIGRATIONS`, src/db/object-migrations.ts), applied in the
 * constructor before any request and again after the alarm cleared the storage.
 *
 * @example
 * const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("203.0.113.7"));
 * const decision = await stub.consume("login", 5, 60);
 * if (!decision.allowed) decision.retryAfter; // seconds
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "../db/object-migrations";
import type { Migration } from "../db/object-migrations";

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

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, RATE_LIMITER_MIGRATIONS);
    });
  }

  consume(bucket: string, limit: number, windowSeconds: number): RateDecision {
    const now = Date.now();
    const windowMs = windowSeconds * 1000;
    this.#sql.exec("DELETE FROM hits WHERE bucket = ? AND at <= ?", bucket, now - windowMs);
    // Counted in SQLite, not by reading every row: a limit raised by config must not cost per hit.
    const counted = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM hits WHERE bucket = ?", bucket).one().n;
    const allowed = counted < limit;
    if (allowed) {
      this.#sql.exec("INSERT INTO hits (bucket, at, expires_at) VALUES (?, ?, ?)", bucket, now, now + windowMs);
    }
    const count = counted + (allowed ? 1 : 0);
    // One more request passes once the count drops below the limit. Usually that is when the oldest
    // hit leaves; after the limit was lowered by config, more hits than `limit` may be counted, and
    // it is the hit at index (count - limit) whose exit brings the count down far enough.
    const blocking = this.#sql
      .exec<{ at: number }>("SELECT at FROM hits WHERE bucket = ? ORDER BY at ASC LIMIT 1 OFFSET ?", bucket, Math.max(0, count - limit))
      .one().at;
    const freesAt = blocking + windowMs;
    const reset = Math.max(1, Math.ceil((freesAt - now) / 1000));
    this.#scheduleCleanup(now + windowMs);
    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - count),
      reset,
      retryAfter: allowed ? 0 : reset,
    };
  }

  /**
   * Sets the alarm only when none is pending, not on every call: the alarm itself moves on to the
   * latest expiry, and hits that expire before it runs are already ignored by `consume`.
   */
  #scheduleCleanup(at: number): void {
    if (this.#alarmAt > Date.now()) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /** Drops hits that left their window; an object with none left clears its storage entirely. */
  override async alarm(): Promise<void> {
    this.#sql.exec("DELETE FROM hits WHERE expires_at <= ?", Date.now());
    const next = this.#sql.exec<{ at: number | null }>("SELECT max(expires_at) AS at FROM hits").one().at;
    if (next === null) {
      await this.ctx.storage.deleteAll();
      this.#alarmAt = 0;
      migrate(this.ctx.storage, RATE_LIMITER_MIGRATIONS);
    } else {
      this.#alarmAt = next;
      await this.ctx.storage.setAlarm(next);
    }
  }
}
