/**
 * One Durable Object per client address (an IPv4 address, or an IPv6 /64), holding every bucket of
 * that address. Algorithm: a sliding-window log. Each allowed request leaves its timestamp; a request
 * passes when fewer than `limit` timestamps of its bucket fall within the last `windowSeconds`. It is
 * exact: no window of that length ever holds more than `limit` requests, with no burst at window
 * edges (as a fixed window allows, up to twice the limit) and no drift (as a token bucket's refill
 * allows). The log holds at most `limit` rows per bucket, and the limits here are small, so it costs
 * little. Each call is synchronous SQLite work with no await, so concurrent calls cannot interleave.
 * An alarm drops expired hits and clears the object's storage once none is left.
 *
 * @example
 * const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("203.0.113.7"));
 * const decision = await stub.consume("login", 5, 60);
 * if (!decision.allowed) decision.retryAfter; // seconds
 */
import { DurableObject } from "cloudflare:workers";

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until a slot frees up (until the oldest counted request leaves the window). */
  reset: number;
  retryAfter: number;
}

export class RateLimiter extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #alarmAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS hits (bucket TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS hits_bucket_at ON hits (bucket, at);
    `);
  }

  consume(bucket: string, limit: number, windowSeconds: number): RateDecision {
    const now = Date.now();
    const windowMs = windowSeconds * 1000;
    this.#sql.exec("DELETE FROM hits WHERE bucket = ? AND at <= ?", bucket, now - windowMs);
    const rows = this.#sql
      .exec<{ at: number }>("SELECT at FROM hits WHERE bucket = ? ORDER BY at ASC", bucket)
      .toArray();
    const allowed = rows.length < limit;
    if (allowed) this.#sql.exec("INSERT INTO hits (bucket, at, expires_at) VALUES (?, ?, ?)", bucket, now, now + windowMs);
    const used = rows.length + (allowed ? 1 : 0);
    const oldest = rows[0]?.at ?? now;
    // The slot that frees first is the oldest hit still in the window (or this one, if it is alone).
    const reset = Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
    if (this.#alarmAt < now + windowMs) {
      this.#alarmAt = now + windowMs;
      void this.ctx.storage.setAlarm(this.#alarmAt);
    }
    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - used),
      reset,
      retryAfter: allowed ? 0 : reset,
    };
  }

  /** Drops hits that left their window; an object with none left clears its storage entirely. */
  override async alarm(): Promise<void> {
    this.#sql.exec("DELETE FROM hits WHERE expires_at <= ?", Date.now());
    const next = this.#sql.exec<{ at: number | null }>("SELECT max(expires_at) AS at FROM hits").one().at;
    if (next === null) {
      await this.ctx.storage.deleteAll();
      this.#alarmAt = 0;
      this.#createSchema();
    } else {
      this.#alarmAt = next;
      await this.ctx.storage.setAlarm(next);
    }
  }
}
