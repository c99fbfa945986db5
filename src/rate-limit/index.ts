/**
 * Rate limits (API.md §6), in two kinds of store.
 *
 * Per client address: one call to that address's RateLimiter object (src/rate-limit/limiter-object.ts), which
 * holds every bucket, so a limited request costs exactly one Durable Object round trip, and the
 * aliases of a route share a bucket simply by naming the same one. The object keeps a sliding-window
 * log: exact under concurrency and at window edges, for windows from seconds to a day. The address
 * is `CF-Connecting-IP` alone (set by Cloudflare; X-Forwarded-For is client-controlled), keyed by
 * `clientKey`: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as the IPv4 address.
 *
 * Per account (failed password logins) and per email (recovery mails): a counter row in D1, not a
 * second object, so the request still makes one Durable Object round trip; the login count is one
 * upsert batched with the user read. Algorithm: a fixed window that opens at the first attempt
 * after the last window ended, updated by one atomic `INSERT … ON CONFLICT DO UPDATE … RETURNING`,
 * so parallel attempts are counted exactly. A log would need a row per attempt and a second
 * statement; the fixed window's known weakness (up to twice the limit across one window edge) is
 * acceptable here, because these limits stop slow, distributed guessing and mail bombing, where
 * the long-run rate (never more than `limit` per window) is what matters. Attempts are counted before
 * the password is checked, so parallel guesses cannot all slip past the check, and keyed by a hash
 * when no account matches, so unknown accounts are counted exactly like known ones and a 429 tells
 * nothing about whether an account exists. A successful login clears the account's count.
 *
 * @example
 * import { limitByAddress, limitRecoveryMail } from "./index";
 * const decision = await limitByAddress(deps, "login"); // throws LimiterUnavailable on faults
 * await limitRecoveryMail(deps, normalizedEmail); // throws a 429 AuthError past 3 an hour
 */
import { and, eq, lt, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Rate, RateLimitBucket } from "../config";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import type { RateDecision } from "./limiter-object";
import { counters } from "../db/schema";
import { userIdByIdentifier } from "../accounts/statements";

export class LimiterUnavailable extends Error {
  constructor(cause: unknown) {
    super("rate limiter unavailable", { cause });
    this.name = "LimiterUnavailable";
  }
}

/**
 * The key an address is limited under: IPv4 as is, IPv6 by its /64, since one client commonly holds
 * a whole /64. Anything unparsable is limited as one shared "unknown" client.
 */
export function clientKey(address: string | null | undefined): string {
  const ip = address?.trim() ?? "";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip;
  const groups = expandIpv6(ip);
  if (!groups) return "unknown";
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

function expandIpv6(ip: string): number[] | null {
  if (!ip.includes(":") || !/^[0-9a-fA-F:.]+$/.test(ip)) return null;
  let text = ip;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) => (part ? part.split(":") : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  return all.map((g) => parseInt(g, 16));
}

/** Consumes one request of `bucket` for the caller's address. */
export async function limitByAddress(deps: Deps, bucket: RateLimitBucket): Promise<RateDecision> {
  const rate = deps.config.rateLimits[bucket];
  try {
    const key = clientKey(deps.client.ipAddress);
    const stub = deps.env.RATE_LIMITER.get(deps.env.RATE_LIMITER.idFromName(key));
    return await stub.consume(bucket, rate.limit, rate.windowSeconds);
  } catch (error) {
    throw new LimiterUnavailable(error);
  }
}

export interface CounterDecision {
  allowed: boolean;
  retryAfter: number;
}

/** One atomic fixed-window count; `key` may be an SQL expression that looks the key up. */
function countStatement(db: DrizzleD1Database, key: string | SQL, rate: Rate, now: number) {
  return db.insert(counters).values({ key, windowStart: now, count: 1 }).onConflictDoUpdate(countOnConflict(rate, now)).returning(countReturned);
}

/** The fixed window's upsert on an existing counter: one more, or a new window once it expired. */
function countOnConflict(rate: Rate, now: number) {
  const expired = sql`${counters.windowStart} <= ${now - rate.windowSeconds * 1000}`;
  return {
    target: counters.key,
    set: {
      count: sql`CASE WHEN ${expired} THEN 1 ELSE ${counters.count} + 1 END`,
      windowStart: sql`CASE WHEN ${expired} THEN ${now} ELSE ${counters.windowStart} END`,
    },
  };
}

const countReturned = { count: counters.count, windowStart: counters.windowStart };

function decide(row: { count: number; windowStart: number } | undefined, rate: Rate, now: number): CounterDecision {
  if (!row) return { allowed: true, retryAfter: 0 };
  const retryAfter = Math.max(1, Math.ceil((row.windowStart + rate.windowSeconds * 1000 - now) / 1000));
  return { allowed: row.count <= rate.limit, retryAfter };
}

/**
 * Counts one recovery mail (forgot-password or resend-verification: they share the count) for
 * `email`, known or not, whatever the caller's address.
 */
export async function countRecoveryMail(deps: Deps, normalizedEmail: string): Promise<CounterDecision> {
  const now = Date.now();
  const key = `mail:${await sha256(normalizedEmail)}`;
  const rate = deps.config.recoveryPerEmail;
  const [row] = await countStatement(drizzle(deps.env.DB), key, rate, now);
  return decide(row, rate, now);
}

/** Counts one recovery mail for `email` and refuses it (429) past the per-email limit. */
export async function limitRecoveryMail(deps: Deps, normalizedEmail: string): Promise<void> {
  const decision = await countRecoveryMail(deps, normalizedEmail);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many recovery mails for this address; try again later");
}

/**
 * Counts a password attempt against an account before the password is checked, so that parallel
 * guesses cannot all pass the check: the account is the user the identifier names (email or
 * username alike), or the identifier's hash when no user has it.
 */
export function loginAttemptStatement(db: DrizzleD1Database, normalizedIdentifier: string, identifierHash: string, rate: Rate, now: number) {
  return countStatement(db, accountKey(db, normalizedIdentifier, identifierHash, "login:"), rate, now);
}

export const loginAttemptDecision = decide;

/**
 * "The attempt `loginAttemptStatement` just counted is allowed", as SQL for later statements of the
 * same D1 batch (one transaction, so they see the count it wrote): the account's counter row (same
 * key) holds at most `rate.limit`, exactly `loginAttemptDecision`'s rule. Lets a batch that counts
 * an attempt also act on it (spend an email code) only when the answer will not be 429.
 */
export function loginAttemptAllowed(db: DrizzleD1Database, normalizedIdentifier: string, identifierHash: string, rate: Rate): SQL {
  const key = accountKey(db, normalizedIdentifier, identifierHash, "login:");
  return sql`EXISTS (SELECT 1 FROM ${counters} WHERE ${counters.key} = ${key} AND ${counters.count} <= ${rate.limit})`;
}

/**
 * Counts one second-factor try (API.md §15: wrong codes are failed logins of the account) against
 * the account `userIdOf` names: a subquery of one user id, so the count can share a batch with the
 * read that finds the account (an `mfaToken`'s). Nothing is counted (no row returned) when it names
 * none. Same key and window as a password attempt (`login:<user id>`), which a success clears.
 */
export function accountAttemptStatement(db: DrizzleD1Database, userIdOf: SQL, rate: Rate, now: number) {
  return db
    .insert(counters)
    .select(sql`SELECT 'login:' || (${userIdOf}), ${now}, 1 WHERE (${userIdOf}) IS NOT NULL`)
    .onConflictDoUpdate(countOnConflict(rate, now))
    .returning(countReturned);
}

/** How long a password check may be counted as in flight before its mark lapses (a lost Worker). */
const IN_FLIGHT_WINDOW: Rate = { limit: Number.MAX_SAFE_INTEGER, windowSeconds: 60 };
/** How long an attempt refused only because of others' checks in flight waits for them, at most. */
const IN_FLIGHT_WAIT_MS = 8_000;

function accountKey(db: DrizzleD1Database, normalizedIdentifier: string, identifierHash: string, prefix: string): SQL {
  // prefix || NULL is NULL: no such user, and the identifier's hash is the key.
  return sql`COALESCE(${prefix} || (${userIdByIdentifier(db, normalizedIdentifier)}), ${`${prefix}${identifierHash}`})`;
}

export interface LoginAttempt<T> {
  /** The result of the statement batched with the reservation (the user read). */
  found: T;
  /** Ends this attempt's in-flight mark; call it once the check is over, whatever its outcome. */
  release(): Promise<void>;
  /**
   * The same as a statement, for a D1 batch the caller writes anyway (the session's, or the failure's
   * event): one round trip less. Once a batch holding it has run, do not call `release`.
   */
  releaseStatement: BatchItem<"sqlite">;
}

/**
 * Reserves one checked password attempt against an account (API.md §6: 10 per 15 minutes): the
 * attempt is counted before the password is checked, so parallel guesses cannot all pass the check,
 * and marked in flight. A success clears the count in the batch that starts the session (so a
 * correct password never counts as a failure); a failure leaves it counted. An attempt past the
 * limit is not counted (the count stays the number of checked attempts), and while other checks of
 * the account are still in flight it waits for them, a few seconds at most, because they may
 * succeed and clear the count: 15 parallel logins with the right password all succeed, while 24
 * parallel guesses still see exactly 10 checked and 14 refused. The refusal's Retry-After is the
 * time left in the account's window. `lookup` runs in the reservation's D1 batch.
 */
export async function reserveLoginAttempt<T extends BatchItem<"sqlite">>(
  deps: Deps,
  normalizedIdentifier: string,
  lookup: T,
): Promise<LoginAttempt<Awaited<T>>> {
  const db = drizzle(deps.env.DB);
  const rate = deps.config.accountLoginFailures;
  const hash = await sha256(normalizedIdentifier);
  const countKey = accountKey(db, normalizedIdentifier, hash, "login:");
  const flightKey = accountKey(db, normalizedIdentifier, hash, "login-in-flight:");
  const releaseStatement = db.update(counters).set({ count: sql`MAX(0, ${counters.count} - 1)` }).where(eq(counters.key, flightKey));
  const release = async () => {
    await releaseStatement;
  };
  const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
  for (;;) {
    const now = Date.now();
    const [counted, inFlight, found] = await db.batch([
      countStatement(db, countKey, rate, now),
      countStatement(db, flightKey, IN_FLIGHT_WINDOW, now),
      lookup,
    ]);
    const decision = decide(counted[0], rate, now);
    if (decision.allowed) return { found: found as Awaited<T>, release, releaseStatement };
    // Not checked, so not counted: undo this attempt's count (in its own window only) and mark.
    await db.batch([
      db
        .update(counters)
        .set({ count: sql`MAX(0, ${counters.count} - 1)` })
        .where(and(eq(counters.key, countKey), eq(counters.windowStart, counted[0]!.windowStart))),
      db.update(counters).set({ count: sql`MAX(0, ${counters.count} - 1)` }).where(eq(counters.key, flightKey)),
    ]);
    const othersInFlight = (inFlight[0]?.count ?? 1) - 1;
    if (othersInFlight <= 0 || Date.now() + 250 > deadline) {
      throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
    }
    await scheduler.wait(50 + Math.floor(Math.random() * 150));
  }
}

/**
 * Forgets an account's failed attempts after a successful login (NIST 800-63B §3.2.2). A statement,
 * so the user's object can run it in the batch that records the new session.
 */
export function clearLoginAttemptsStatement(db: DrizzleD1Database, userId: string, onlyIf?: SQL) {
  return db.delete(counters).where(and(eq(counters.key, `login:${userId}`), onlyIf));
}

export async function clearLoginAttempts(deps: Deps, userId: string): Promise<void> {
  await clearLoginAttemptsStatement(drizzle(deps.env.DB), userId);
}

export function tooManyRequests(retryAfter: number, message = "Too many requests; try again later"): AuthError {
  return new AuthError("rate_limited", message, undefined, retryAfter);
}

/** Deletes counters whose window started before `before` (ms): the daily clean-up's part. */
export function purgeCountersStatement(db: DrizzleD1Database, before: number) {
  return db.delete(counters).where(lt(counters.windowStart, before));
}
