/**
 * One password check against an account (API.md §6: 10 failed logins in 15 minutes per account,
 * whatever the address), with no D1 write unless it fails (issue 27: a successful password sign-in
 * writes D1 once, from the user's object). The steps:
 *
 * 1. One D1 read batch: the user's row (the caller's `lookup`) and the account's counter row
 *    (`loginAttemptRead`: the user's key, or the identifier's hash when no user has it).
 * 2. A reservation in the account's gate (src/rate-limit/attempt-gate.ts): the user's object, or a
 *    `RateLimiter` named `login:<identifier hash>` for an unknown identifier. Refused: 429 with the
 *    window's Retry-After, and nothing is checked or counted. A gate that cannot be reached: 503.
 * 3. The check (the caller's `check`: the password's derive) runs while the reservation is on its
 *    way, and its result is handed over only once the check is reserved. The caller ends the
 *    attempt once:
 *    - `fail(extra)`: counts the failure in D1 (`login:<key>`), in one batch with `extra` (the
 *      `sign_in_failed` event), and reports the count it made to the gate;
 *    - `succeeded()`: the sign-in's own writes cleared the count (src/sessions/issue.ts); or the
 *      handle's `settled` is already true, when the user's object started the session and ended the
 *      reservation in the same call (src/sessions/session-start.ts);
 *    - `clear()`: a right password that signs in nobody (an unverified address): the count is cleared;
 *    - `release()`: nothing was decided (an error): the reservation ends, nothing is counted;
 *    - `signInRefused(refusal)`: a right credential whose session did not start (its guard no longer
 *      held): 403 for an account disabled meanwhile, else `fail` with the method's `sign_in_failed`
 *      event and the method's 401 (an email code, a passkey).
 *
 * @example
 * const attempt = await reserveLoginAttempt(deps, "ann@example.com", db.select().from(users).where(…).limit(1), (found) => found[0]?.id, (found) => verifyPassword(password, found[0]?.passwordHash, options));
 * const user = attempt.found[0];
 * if (!attempt.checked.valid) await attempt.fail([activityStatement(db, { userId: user.id, type: "sign_in_failed", … })]);
 */
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import { sha256 } from "../crypto";
import { activityStatement } from "../activity";
import { userIsDisabled } from "../accounts/statements";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError } from "../http/errors";
import type { CountRow, ReleaseInput, ReserveInput, ReserveOutcome } from "./attempt-gate";
import { accountFailureStatement, clearLoginAttemptsStatement, countFailureStatement, loginAttemptRead, tooManyRequests } from "./index";

/** The gate's two calls, as both objects that keep one answer them. */
interface Gate {
  reserveAttempt(input: ReserveInput): Promise<ReserveOutcome>;
  releaseAttempt(input: ReleaseInput): Promise<void>;
}

/** A reserved check; end it exactly once (see the module comment). */
export interface LoginAttempt<T, R> {
  /** The result of the caller's lookup, read in the same batch as the count. */
  found: T;
  /** The check's result (`check`'s), known only once the check was reserved. */
  checked: R;
  /** What the user's object takes to end the reservation with the session it starts; `settled` turns true then. */
  handle: AttemptHandle;
  /** Counts the failure (with `extra` in the same D1 batch) and ends the reservation. */
  fail(extra?: BatchItem<"sqlite">[]): Promise<void>;
  /** Ends the reservation of a check whose sign-in cleared the count in D1. */
  succeeded(): Promise<void>;
  /** Clears the count in D1 and ends the reservation (a right password that signs in nobody). */
  clear(): Promise<void>;
  /** Ends the reservation, counting nothing. */
  release(): Promise<void>;
  /**
   * Ends an attempt whose credential was right but whose sign-in did not start (`signIn` returned
   * null: its guard no longer held): 403 `account_disabled` when the account was disabled meanwhile
   * (counted, with no event, as when it is found disabled first); else a counted failure with its
   * `sign_in_failed` event (`method`, API.md §9), `refused.log` called, and `refused.error` thrown.
   */
  signInRefused(refused: SignInRefusal): Promise<never>;
}

/** How a method answers a sign-in refused after its check (`LoginAttempt.signInRefused`). */
export interface SignInRefusal {
  /** The `sign_in_failed` event's method: "code", "passkey", … */
  method: string;
  /** The method's own refusal (a 401). */
  error: () => Error;
  /** Called after the failure is counted and before the throw (a log line). */
  log?: () => void;
}

/** The reservation as the sign-in carries it to the user's object (src/sessions/sign-in-input.ts). */
export interface AttemptHandle {
  id: string;
  /** Set by the sign-in when the user's object ended the reservation itself. */
  settled: boolean;
}

/**
 * Reads the account and its count, and reserves one check (see the module comment). `userIdOf`
 * names the account in what `lookup` found (undefined: no account has this identifier). `check`
 * (the password's derive) starts as soon as the reservation is sent, so the two overlap (issue 27:
 * the gate's call costs the sign-in no time of its own); its result is used only once the check is
 * reserved: a refused attempt learns nothing from it. Throws 429 `rate_limited` past the limit, 503
 * `unavailable` when the gate cannot be reached; D1 errors and `check`'s propagate (the reservation
 * ended first).
 */
export async function reserveLoginAttempt<T extends BatchItem<"sqlite">, R>(
  deps: Deps,
  normalizedIdentifier: string,
  lookup: T,
  userIdOf: (found: Awaited<T>) => string | undefined,
  check: (found: Awaited<T>) => Promise<R>,
): Promise<LoginAttempt<Awaited<T>, R>> {
  const db = drizzle(deps.env.DB);
  const hash = await sha256(normalizedIdentifier);
  const [counted, found] = await db.batch([loginAttemptRead(db, normalizedIdentifier, hash), lookup]);
  const userId = userIdOf(found as Awaited<T>);
  const account = userId ? { userId } : { identifierHash: hash };
  return reserveAccountAttempt(deps, { ...account, seen: counted[0] ?? null, found: found as Awaited<T> }, check);
}

/** The account an attempt is counted against, and what was read of it in the caller's one D1 batch. */
export type AttemptRead<T> = ({ userId: string } | { identifierHash: string }) & {
  /** The account's counter row as read (`loginAttemptRead`, `accountAttemptRead`), or null: none. */
  seen: CountRow | null;
  /** What the caller's lookup found, handed back as `found`. */
  found: T;
};

/**
 * Step 2 and 3 of the module comment for a caller that made its own D1 read (a passkey sign-in,
 * whose account is known only from the credential: src/passkeys/login.ts): reserves one check in the
 * account's gate (the user's object, or for an identifier no account has, its `RateLimiter`) and runs
 * `check` meanwhile. Throws 429 `rate_limited` past the limit, 503 `unavailable` when the gate cannot
 * be reached; `check`'s errors propagate (the reservation ended first).
 */
export async function reserveAccountAttempt<T, R>(deps: Deps, read: AttemptRead<T>, check: (found: T) => Promise<R>): Promise<LoginAttempt<T, R>> {
  const db = drizzle(deps.env.DB);
  const rate = deps.config.accountLoginFailures;
  const userId = "userId" in read ? read.userId : undefined;
  const gate: Gate = userId
    ? userSessions(deps, userId)
    : deps.env.RATE_LIMITER.get(deps.env.RATE_LIMITER.idFromName(`login:${(read as { identifierHash: string }).identifierHash}`));
  const reserving = gate.reserveAttempt({ seen: read.seen, limit: rate.limit, windowSeconds: rate.windowSeconds });
  const checking = check(read.found);
  checking.catch(() => undefined); // awaited below once reserved; unused when refused
  let reserved: ReserveOutcome;
  try {
    reserved = await reserving;
  } catch (error) {
    if (error instanceof AuthError) throw error;
    throw new AuthError("unavailable", "The service is busy; try again shortly", undefined, 5);
  }
  if (!reserved.ok) throw tooManyRequests(reserved.retryAfter, "Too many failed attempts for this account; try again later");
  const handle: AttemptHandle = { id: reserved.id, settled: false };
  const end = async (release: ReleaseInput) => {
    if (handle.settled) return;
    handle.settled = true;
    await gate.releaseAttempt(release).catch(() => undefined); // a lost release lapses (IN_FLIGHT_MS)
  };
  const key = `login:${userId ?? (read as { identifierHash: string }).identifierHash}`;
  let checked: R;
  try {
    checked = await checking;
  } catch (error) {
    await end({ id: handle.id, outcome: "unchecked" });
    throw error;
  }
  const attempt: LoginAttempt<T, R> = {
    found: read.found,
    checked,
    handle,
    async fail(extra = []) {
      // An account's failure is counted only while the account exists: a deletion that landed after
      // the read leaves no row behind (API.md §9); nothing counted ends the reservation as unchecked.
      const count = userId ? accountFailureStatement(db, userId, rate, Date.now()) : countFailureStatement(db, key, rate, Date.now());
      const results = await db.batch([...extra, count] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
      const [row] = results.at(-1) as CountRow[];
      await end(row ? { id: handle.id, outcome: "failed", row } : { id: handle.id, outcome: "unchecked" });
    },
    succeeded: () => end({ id: handle.id, outcome: "cleared" }),
    async clear() {
      if (userId) await clearLoginAttemptsStatement(db, userId);
      await end({ id: handle.id, outcome: "cleared" });
    },
    release: () => end({ id: handle.id, outcome: "unchecked" }),
    async signInRefused(refused) {
      if (userId && (await userIsDisabled(db, userId))) {
        await attempt.fail();
        throw new AuthError("account_disabled", "This account is disabled");
      }
      await attempt.fail(userId ? [activityStatement(db, { userId, type: "sign_in_failed", method: refused.method, client: deps.client })] : []);
      refused.log?.();
      throw refused.error();
    },
  };
  return attempt;
}
