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
 * Per account (failed logins) and per email (recovery mails): a counter row in D1. Algorithm: a fixed
 * window that opens at the first attempt after the last window ended, updated by one atomic
 * `INSERT … ON CONFLICT DO UPDATE … RETURNING`, so parallel counts are exact. A log would need a row
 * per attempt and a second statement; the fixed window's known weakness (up to twice the limit across
 * one window edge) is acceptable here, because these limits stop slow, distributed guessing and mail
 * bombing, where the long-run rate (never more than `limit` per window) is what matters. Keyed by a
 * hash when no account matches, so unknown accounts are counted exactly like known ones and a 429
 * tells nothing about whether an account exists. A successful login clears the account's count.
 *
 * A password login reads the count with the user's row and counts a failure when it happens (with
 * its event, in the batch written anyway); the checks in flight are gated in the account's Durable
 * Object (src/rate-limit/login-attempt.ts, attempt-gate.ts), so parallel guesses still cannot all
 * pass the check and a successful sign-in writes D1 once. Email codes, second-factor codes and
 * re-authentication count their try in D1 before checking it, in the batch that checks it.
 *
 * @example
 * import { limitByAddress, limitRecoveryMail } from "./index";
 * const decision = await limitByAddress(deps, "login"); // throws LimiterUnavailable on faults
 * await limitRecoveryMail(deps, normalizedEmail); // throws a 429 AuthError past 3 an hour
 */
import { and, eq, lt, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Rate, RateLimitBucket } from "../config";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import type { RateDecision } from "./limiter-object";
import { counters, users } from "../db/schema";
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
  const count = await recoveryMailCount(drizzle(deps.env.DB), normalizedEmail, deps.config.recoveryPerEmail, Date.now());
  const [row] = await count.statement;
  return count.decide(row);
}

/**
 * Counts one recovery mail for `normalizedEmail` as a statement, for a D1 batch that may also write
 * what the mail carries (an email code): `statement` returns the counter row `{ count, windowStart }`
 * (ms); `allowed` is SQL true, for later statements of the same batch, while that count is within
 * the limit; `decide` gives the decision from the row and `refuse` throws its 429.
 */
export async function recoveryMailCount(db: DrizzleD1Database, normalizedEmail: string, rate: Rate, now: number) {
  const key = `mail:${await sha256(normalizedEmail)}`;
  const decideRow = (row: { count: number; windowStart: number } | undefined) => decide(row, rate, now);
  return {
    statement: countStatement(db, key, rate, now),
    allowed: sql`EXISTS (SELECT 1 FROM ${counters} WHERE ${counters.key} = ${key} AND ${counters.count} <= ${rate.limit})`,
    decide: decideRow,
    refuse(row: { count: number; windowStart: number } | undefined): void {
      const decision = decideRow(row);
      if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many mails to this address (codes and recovery links share the limit); try again later");
    },
  };
}

/** Counts one recovery mail for `email` and refuses it (429) past the per-email limit. */
export async function limitRecoveryMail(deps: Deps, normalizedEmail: string): Promise<void> {
  const count = await recoveryMailCount(drizzle(deps.env.DB), normalizedEmail, deps.config.recoveryPerEmail, Date.now());
  const [row] = await count.statement;
  count.refuse(row);
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

function accountKey(db: DrizzleD1Database, normalizedIdentifier: string, identifierHash: string, prefix: string): SQL {
  // prefix || NULL is NULL: no such user, and the identifier's hash is the key.
  return sql`COALESCE(${prefix} || (${userIdByIdentifier(db, normalizedIdentifier)}), ${`${prefix}${identifierHash}`})`;
}

/**
 * Reads the account's counter (its failed logins and counted code tries) without counting: the row
 * of the user the identifier names, or of the identifier's hash when none does; `{ count,
 * windowStart }` (ms), or no row. For a D1 batch with the user's read (src/rate-limit/login-attempt.ts).
 */
export function loginAttemptRead(db: DrizzleD1Database, normalizedIdentifier: string, identifierHash: string) {
  return db.select(countReturned).from(counters).where(eq(counters.key, accountKey(db, normalizedIdentifier, identifierHash, "login:")));
}

/**
 * Reads, without counting, the counter of the account `userIdOf` names (a subquery of one user id,
 * e.g. the owner of a passkey credential): `{ count, windowStart }` (ms), or no row when it names
 * none or the account has no counter. For the D1 read of a passkey sign-in (src/passkeys/login.ts).
 */
export function accountAttemptRead(db: DrizzleD1Database, userIdOf: SQL) {
  return db.select(countReturned).from(counters).where(eq(counters.key, sql`'login:' || (${userIdOf})`));
}

/**
 * Counts one failed attempt of the account `userId` (key `login:<user id>`) while that account
 * exists; returns the row it made, or no row when the account is gone (a deletion between the
 * sign-in's read and its failure: nothing of the user is left behind).
 */
export function accountFailureStatement(db: DrizzleD1Database, userId: string, rate: Rate, now: number) {
  return accountAttemptStatement(db, sql`SELECT ${users.id} FROM ${users} WHERE ${users.id} = ${userId}`, rate, now);
}

/** Counts one failed attempt under `key` (`login:<user id or identifier hash>`); returns the row it made. */
export function countFailureStatement(db: DrizzleD1Database, key: string, rate: Rate, now: number) {
  return countStatement(db, key, rate, now);
}

/**
 * Forgets an account's failed attempts after a successful login (NIST 800-63B §3.2.2). A statement,
 * so the user's object can run it in the batch that records the new session. The row is kept, with
 * count 0 and its window restarted, not deleted: a row's `windowStart` then only moves forward, which
 * is how the login's gate tells a clear from a read that missed a failure
 * (src/rate-limit/attempt-gate.ts). The restart is `now` (ms), or 1 ms past the row's own start when
 * that is later: a clear written after its instant (the user object's outbox writes it after
 * answering) may find a window a failure opened meanwhile, and moving back behind it would let the
 * gate keep that failure's row as the newer state and never see the count grow (the gate-break
 * review, test/rate-limit/login-gate-break.test.ts). An account with no row gets none.
 */
export function clearLoginAttemptsStatement(db: DrizzleD1Database, userId: string, onlyIf?: SQL, now = Date.now()) {
  const windowStart = sql`MAX(${counters.windowStart} + 1, ${now})`;
  return db.update(counters).set({ count: 0, windowStart }).where(and(eq(counters.key, `login:${userId}`), onlyIf));
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
