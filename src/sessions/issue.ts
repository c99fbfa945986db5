/**
 * Starting a session, and the one place that decides between a session and the second factor
 * (API.md §15): every sign-in method (password on each door, email code, passkey, ID token, OAuth
 * exchange, guest, and `mfa/verify`) ends in `signIn`, so a method added later cannot skip it.
 * One D1 batch written by the Worker, between `beginChange` and `endChange` on the user's Durable
 * Object (issue 27: the session limit may end sessions the object's liveness cache holds; the new
 * session is registered there with `endChange`, so its first `me` needs no D1 trip).
 *
 * **Since issue 27's slice 3, most sign-ins start in the user's object instead** (src/sessions/start-in-object.ts,
 * session-start.ts): an existing account (a full one, or a guest signing in again) with nothing of its own in the batch's
 * guard (no `onlyIf`, no guest to merge, no second factor being spent) asks its object, which checks
 * the guard below against what D1 showed it at its current change epoch, applies the session limit
 * to the sessions it holds, and keeps this batch's D1 writes in an outbox written after the answer.
 * When the object cannot decide (a change overlapping, an active factor to ask for, a hash that
 * differs, a disabled account, a role that no longer fits), nothing is written there and the D1 path below runs.
 *
 * The decision is made inside the batch, not before it: for an existing account, every session
 * statement is guarded by "no active factor", and an `mfa_challenges` row (the pending sign-in an
 * `mfaToken` names) is inserted under the opposite guard, so a factor activated by a concurrent
 * request can never be skipped and the common case costs no extra round trip. A passkey (`aal2` on
 * its own), a new guest (no factor possible) and a sign-in that carries a spent second factor
 * (`secondFactor`, made only by src/mfa/verify.ts) start the session directly. When the challenge
 * was written, `signIn` throws `MfaRequiredError` (403 `mfa_required` with the `mfaToken`); the
 * first factor's counted attempts stay counted until the second factor succeeds.
 *
 * The session is handed to the user's object after the batch (`endChange` with `hold`, src/sessions/hold.ts;
 * issue 27: a full account's since slice 7, a guest's since slice 8), which holds its first token's
 * hash from then on, so D1's row keeps none. Rows written before slice 8 may still hold that hash
 * (`first_refresh_token_hash`): the object adopts such a session the first time a refresh or upgrade
 * names it (src/sessions/adoption.ts). The object calls here are the liveness cache's
 * `beginChange`/`endChange` (src/sessions/profile-object.ts), the hold riding the latter.
 *
 * The batch: the guest's user row (or, for an existing account, the clearing of its counted failed
 * logins), the `session_revoked` events and revocations of the oldest sessions past
 * MAX_SESSIONS_PER_USER, the session row (no assurance since slice 9: the object holds it), the account's
 * `last_sign_in_at` (which returns the user row the answer shows), and the second-factor challenge
 * (the `sign_in` event is kept by the object with the session it holds: slice 8). For an existing account every statement is guarded:
 * the account exists, is not disabled and is a guest exactly when the role says so, and for a password sign-in its hash is still the one the
 * password was checked against, so a disable, reset or change that lands first wins and nothing is
 * written (null).
 *
 * @example
 * const pair = await signIn(deps, { userId, role: "user", method: "passkey" });
 * if (!pair) throw new AuthError("account_disabled", "…"); // the guard did not hold
 * // For an account with a factor, a password sign-in throws MfaRequiredError instead.
 */
import { and, desc, eq, inArray, isNull, not, notInArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Deps } from "../http/deps";
import { sha256 } from "../crypto";
import { insertWhere } from "../db/insert-where";
import { sqlUuidV4 } from "../db/sql-uuid";
import { activity, sessions, users } from "../db/schema";
import type { UserRow } from "../db/schema";
import { insertGuestStatement, recordSignInStatement, userMatches } from "../accounts/statements";
import { clearLoginAttemptsStatement } from "../rate-limit";
import { deletionStatements } from "../deletion/statements";
import { mergedEvent, previousChanged, publish, userEvent } from "../events";
import { userSessions } from "../http/deps";
import type { ClientInfo, IssuedPair } from "../types";
import { refreshExpiry } from "./expiry";
import { d1Expiry } from "./vouch";
import { AuthError } from "../http/errors";
import { log } from "../http/log";
import { publicUser } from "../accounts/users";
import type { SessionRegistration } from "./profile-object";
import { tokenPair } from "./pair";
import { mayStartInObject, startInObject } from "./start-in-object";
import type { SignInInput } from "./sign-in-input";
import { makeRefreshToken } from "./refresh-token";
import { newSessionId } from "./owner";
import { liveSession } from "./statements";
import { assuranceFor } from "./assurance";
import { hasActiveFactor, insertChallengeStatement, mfaRequired } from "../mfa/statements";

export type { SignInInput } from "./sign-in-input";

/**
 * Starts a session and returns its pair, or null when the account no longer matched the guard (gone,
 * disabled, or its password hash changed), `onlyIf` did not hold or its single-use proof (`spend`) was
 * spent before. Throws `MfaRequiredError` (403
 * `mfa_required`) when the account has an active factor and the method needs one. Times in ms; D1
 * errors propagate (nothing was written).
 */
export async function signIn(deps: Deps, input: SignInInput): Promise<IssuedPair | null> {
  const db = drizzle(deps.env.DB);
  const role = input.role ?? "user";
  const now = Date.now();
  const sessionId = newSessionId(input.userId);
  const refreshToken = makeRefreshToken(input.userId, sessionId);
  const expiresAt = refreshExpiry(deps.config, role, now, now);
  const client: ClientInfo = deps.client;
  // Issue 27, slice 3: started in the user's object when it can decide (no D1 trip after the lookup).
  if (mayStartInObject(input)) {
    const started = await startInObject(deps, input, { sessionId, refreshToken, expiresAt, assurance: assuranceFor([input.method], now), method: input.method, now });
    if (started !== undefined) return started;
  }
  // An existing account's batch may end sessions (the limit) and the merged guest's: both objects'
  // cached checks go first (src/sessions/profile-object.ts), begun now so the calls overlap the work
  // below; the new session is registered at the end. A throw before the batch leaves the change
  // pending until its deadline: checks read D1 meanwhile, nothing worse.
  const beginning = Promise.all(
    [input.userId, ...(input.mergeGuest && !input.createGuest ? [input.mergeGuest] : [])].map(async (id, i) => {
      const stub = userSessions(deps, id);
      // The account's object records a single-use proof before the batch spends it (src/sessions/spent-proofs.ts).
      const spend = i === 0 && input.spend ? { key: input.spend.key, expiresAt: input.spend.expiresAt } : undefined;
      // A new guest's object keeps the change in memory only: a sign-up that dies before `endChange`
      // leaves no storage for a user never written (`ProfileCache.begin`).
      return { stub, ticket: await stub.beginChange(spend, input.createGuest !== undefined) };
    }),
  );
  beginning.catch(() => undefined);
  const second = input.secondFactor;
  const methods = second ? [input.method, second.method] : [input.method];
  const assurance = assuranceFor(methods, now);
  // Who must still show a second factor: an existing account with an active one, signing in by any
  // method but a passkey, with none shown yet.
  const mayNeedFactor = !input.createGuest && !second && input.method !== "passkey";
  const account = input.createGuest
    ? undefined
    : // The role must still fit the account: a guest upgraded since its lookup starts no guest-role (never-expiring) session.
      and(userMatches(db, input.userId, { enabled: true, isGuest: role === "guest", ...(input.passwordHash === undefined ? {} : { passwordHash: input.passwordHash }) }), input.onlyIf, second?.onlyIf, input.spend?.onlyIf)!;
  const guard = mayNeedFactor ? and(account, not(hasActiveFactor(db, input.userId)))! : account;
  // Every session this path starts is held by its user's object from the start (`endChange` below;
  // issue 27: a full account's since slice 7, a guest's since slice 8): D1's row gets no first
  // token's hash, no client and, as for a session started there, an expiry later by the slack
  // (src/sessions/vouch.ts; a guest's has none), so its first refresh needs no D1 trip.
  const tokenHash = await sha256(refreshToken);
  const d1ExpiresAt = d1Expiry(deps.config, expiresAt, now);
  const row = {
    id: sessionId,
    userId: input.userId,
    createdAt: now,
    lastUsedAt: null,
    expiresAt: d1ExpiresAt,
    // The object is of record for a held session's token, client and last use: D1 keeps none (privacy, and bytes).
    ipAddress: null,
    userAgent: null,
    firstRefreshTokenHash: null,
    // The object holds the session's assurance from the start (slice 9): D1's row keeps none.
    aal: null,
    amr: null,
    authTime: null,
  };
  const pending = input.mergeGuest && !input.createGuest ? { ...input.pending, mergeGuest: input.mergeGuest } : input.pending;
  const challenge = mayNeedFactor ? await insertChallengeStatement(db, { userId: input.userId, method: input.method, pending, now }, and(account, hasActiveFactor(db, input.userId))!) : undefined;
  const created = input.createGuest ? userEvent(db, "user.created", input.userId, { at: now }) : undefined;
  const merge = !input.createGuest && input.mergeGuest ? mergeStatements(db, input.mergeGuest, input.userId, guard!, now) : undefined;
  const changes = await beginning;
  // Sessions the account's object holds past their own expiry, which D1 may still count live
  // (src/sessions/vouch.ts): they hold no slot under the limit.
  const expiredHeld = changes[0]?.ticket.expired ?? [];
  // The positions of the session insert and of the statement that returns the user row.
  const [batch, insertAt, userAt]: [BatchItem<"sqlite">[], number, number] = input.createGuest
    ? [[insertGuestStatement(db, input.userId, input.createGuest.createdAt, now).returning(), insertWhere(db, sessions, row), created!.statement], 1, 0]
    : [
        [
          clearLoginAttemptsStatement(db, input.userId, guard, now),
          ...sessionLimitStatements(db, input.userId, { max: deps.config.maxSessionsPerUser, expiredHeld }, client, now, guard!),
          insertWhere(db, sessions, row, guard),
          recordSignInStatement(db, input.userId, now, guard).returning(),
          ...(merge?.statements ?? []),
        ],
        3,
        4,
      ];
  const extra = [...(challenge ? [challenge.statement] : []), ...(input.alsoRun ?? []), ...(second?.alsoRun ?? []), ...(input.spend?.alsoRun ?? [])];
  // Each object's `endChange`; a failure is ignored (its pending change lapses at its deadline), but
  // not the account's when it must hold the new session: that rejects (see below).
  const endAll = (registration?: SessionRegistration) =>
    Promise.all(
      changes.map(async ({ stub, ticket }, i) => {
        const ending = Promise.resolve(stub.endChange(ticket.id, i === 0 ? registration : undefined));
        return registration?.hold && i === 0 ? ending : ending.catch(() => undefined);
      }),
    );
  // The proof was spent before (by a sign-in started in the object, its D1 delete still owed): nothing is written.
  if (changes[0]?.ticket.spent) {
    await endAll();
    return null;
  }
  let results: unknown[];
  try {
    results = await db.batch([...batch, ...extra] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    // A new guest's user was never written: its object keeps nothing, not even a drain's mark (the
    // change was begun in memory only and lapses at its deadline).
    if (!input.createGuest) await endAll();
    throw error;
  }
  const inserted = (results[insertAt] as D1Result).meta.changes === 1 ? (results[userAt] as UserRow[])[0] : undefined;
  // Not awaited yet: the answer's token is signed while the object calls are in flight.
  // The `sign_in` event is the object's to keep with the session (slice 8). The batch staged rows
  // besides only for a second factor (`recovery_code_used`, src/mfa/check.ts) or for sessions the
  // limit evicted (their `session_revoked`): then the object drains them soon.
  const evicted = !input.createGuest && (results[2] as D1Result).meta.changes > 0;
  const hold = { tokenHash, createdAt: now, expiresAt, d1ExpiresAt, assurance, client, role, method: methods.join("+"), drain: second !== undefined || evicted };
  const ended = endAll(inserted && changes[0] ? { epoch: changes[0].ticket.epoch, sessionId, session: { user: publicUser(inserted), expiresAt }, hold } : undefined);
  // A session the object could not take is of no use (its D1 row has no first token's hash): it is ended now, and the sign-in answers 503.
  const holding = inserted ? ended.catch(async (error: unknown) => unheld(db, input.userId, sessionId, error)) : ended;
  try {
    if ((results[insertAt] as D1Result).meta.changes !== 1) {
      if (challenge && (results[batch.length] as D1Result).meta.changes === 1) throw await mfaRequired(db, input.userId, challenge.token);
      // `beginChange(spend)` opened the object's storage to record the proof: an account deleted meanwhile keeps none (API.md §9).
      if (input.spend && !(await db.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).get())) {
        await holding;
        await userSessions(deps, input.userId).erase();
      }
      return null;
    }
    const user = (results[userAt] as UserRow[])[0];
    if (!user) throw new Error("user row missing after session insert");
    if (created) publish(deps, created);
    if (merge && (results[userAt + merge.statements.length] as D1Result).meta.changes === 1) {
      // The guest's rows are gone with the batch; its object's storage (adopted sessions) goes now (also when the account's object failed: 503 below).
      await holding.catch(() => undefined);
      await userSessions(deps, input.mergeGuest!).erase();
      publish(deps, merge.event);
    }
    const pair = await tokenPair(deps.config, { userId: input.userId, sessionId, role, expiresAt, assurance }, refreshToken, publicUser(user), now);
    await holding;
    return pair;
  } finally {
    await holding.catch(() => undefined);
  }
}

/**
 * The account's object did not take a session the batch wrote with no first token's hash: nothing
 * could ever refresh it, so its D1 row is ended (reason `unheld`, no event: the client never got its
 * tokens) and the sign-in answers 503 `unavailable` (retry the sign-in). A failure to end it is
 * logged; the row then ends at its expiry, listed by no object.
 */
async function unheld(db: DrizzleD1Database, userId: string, sessionId: string, error: unknown): Promise<never> {
  await db
    .update(sessions)
    .set({ revokedAt: Date.now(), revokedReason: "unheld" })
    .where(and(eq(sessions.userId, userId), eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .catch((failure: unknown) => log("error", "session.unheld_not_ended", { sessionId, message: failure instanceof Error ? failure.message : String(failure) }));
  log("warn", "session.unheld", { sessionId, message: error instanceof Error ? error.message : String(error) });
  throw new AuthError("unavailable", "The sign-in could not be completed; sign in again", undefined, 1);
}

/**
 * A guest merged into the account signing in: the guest's deletion statements, under the sign-in's
 * guard and "still a guest", then `user.merged`, written only if the guest's row was deleted (the
 * statement before it). The event is the last statement of the returned list.
 */
function mergeStatements(db: DrizzleD1Database, guestId: string, userId: string, guard: SQL, now: number) {
  const stillGuest = userMatches(db, guestId, { isGuest: true });
  const event = mergedEvent(db, guestId, userId, previousChanged, now);
  return { statements: [...deletionStatements(db, guestId, and(guard, stillGuest)), event.statement] as BatchItem<"sqlite">[], event };
}

/**
 * The oldest live sessions past the limit, as a subquery: a new session is about to be added, so all
 * but the newest `max - 1` go; sessions in `expiredHeld` (the user object holds them expired) do not
 * count. Evaluated twice in one batch (one transaction), so both uses see the same set.
 */
function sessionsPastLimit(db: DrizzleD1Database, userId: string, limit: SessionLimit, now: number) {
  const { max, expiredHeld } = limit;
  return db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), liveSession(now), expiredHeld.length > 0 ? notInArray(sessions.id, expiredHeld) : undefined))
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
    // SQLite takes an OFFSET only after a LIMIT; drizzle drops LIMIT -1 (SQLite's "no limit").
    .limit(2 ** 31 - 1)
    .offset(Math.max(0, max - 1));
}

/** MAX_SESSIONS_PER_USER, and the sessions that hold no slot (ids). */
interface SessionLimit {
  max: number;
  expiredHeld: string[];
}

/**
 * The `session_revoked` events of the sessions the limit evicts (written first, while the set is
 * still live), then their revocation with reason `session_limit`. Event ids are random UUIDs (v4)
 * made by SQLite, one per evicted row.
 */
function sessionLimitStatements(db: DrizzleD1Database, userId: string, limit: SessionLimit, client: ClientInfo, now: number, guard: SQL) {
  const evicted = sessionsPastLimit(db, userId, limit, now);
  const events = db.insert(activity).select(
    sql`SELECT ${sqlUuidV4}, ${sessions.userId}, 'session_revoked', NULL, ${now}, ${client.ipAddress}, ${client.userAgent}, ${sessions.id}
      FROM ${sessions} WHERE ${sessions.userId} = ${userId} AND ${inArray(sessions.id, evicted)} AND ${guard}`,
  );
  const revocations = db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: "session_limit" })
    .where(and(eq(sessions.userId, userId), inArray(sessions.id, sessionsPastLimit(db, userId, limit, now)), guard));
  return [events, revocations] as const;
}
