/**
 * One Durable Object per user: the only writer of that user's refresh-token state, and (through
 * `ProfileObject`, src/sessions/profile-object.ts) the liveness check of `me` and `AuthRpc.verifySession`.
 *
 * Its SQLite storage (src/sessions/token-store.ts, opened by held-store.ts) holds, per session, the
 * current token hash, rotated ones and the sealed successor pair of the reuse window: only there can
 * a check and the act that follows it be atomic. Every operation runs one at a time through `#serial`
 * (input gates do not cover awaits on D1); a D1 write goes first, storage changes after it succeeded.
 * D1 keeps the session rows of record for revocation; a rotation the store vouches for (vouch.ts:
 * D1 confirmed it at the current change epoch) makes no D1 trip, and D1's row is written only when
 * its expiry must move. Most sign-ins start their session here (slice 3, src/sessions/session-start.ts),
 * and the D1 writes they owe follow from the object's outbox (src/sessions/outbox.ts); the others
 * (issue.ts's D1 path: a new guest, a merge, a second factor, a counted passkey) write D1 first and
 * are **held** here from their `endChange` (src/sessions/hold.ts; slices 7 and 8). A row written
 * before slice 8 with its first token's hash is **adopted** by the first call naming it
 * (src/sessions/adoption.ts), and the touch that follows clears the hash. Refreshes and reissues
 * are src/sessions/rotation.ts; the gate of the account's password checks in flight (slice 4) is
 * src/rate-limit/attempt-gate.ts, in memory.
 *
 * @example
 * const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
 * const outcome = await stub.refresh({ token, ipAddress, userAgent });
 * if (outcome.ok) outcome.pair.refreshToken;
 */
import { drizzle } from "drizzle-orm/d1";
import { TokenStore, systemClock } from "./token-store";
import { HeldStore } from "./held-store";
import type { Clock } from "./token-store";
import { liveSessionIds } from "./object-statements";
import { SessionList } from "./session-list";
import { SessionStart, alarmBy } from "./session-start";
import { Rotation } from "./rotation";
import type { ReissueInput } from "./rotation";
import { Adoption } from "./adoption";
import { Revocation } from "./revocation";
import type { StartOutcome, StartSessionInput } from "./session-start";
import { flush, owed } from "./outbox";
import type { HeldSessionView } from "./session-list";
import { Vouching } from "./vouch";
import type { CachedSession, ChangeTicket } from "./profile-cache";
import type { SessionRegistration } from "./profile-object";
import { ChangeGate } from "./change-gate";
import type { SpentProof } from "./spent-proofs";
import { ProfileObject } from "./profile-object";
import type { PairOutcome } from "./pair-outcome";
import type { ClientInfo } from "../types";
import { AttemptGate } from "../rate-limit/attempt-gate";
import { ActivityDrain } from "../activity/drain";
import type { ActivityRead } from "../activity/drain";
import type { LoggedEvent } from "../activity/object-log";
import type { ReleaseInput, ReserveInput, ReserveOutcome } from "../rate-limit/attempt-gate";

export type { ClientInfo, IssuedPair } from "../types";
export type { PairOutcome } from "./pair-outcome";

export class UserSessions extends ProfileObject {
  #queue: Promise<unknown> = Promise.resolve();
  /** The object's time for token state and the rows it writes (tests move it; tokens use the real clock). */
  readonly clock: Clock = systemClock();
  readonly #held = new HeldStore(this.ctx.storage, this.clock, this.profiles);
  /** The D1-free answers of a refresh and a check, and the D1 reads and writes when not (src/sessions/vouch.ts). */
  readonly #vouching = new Vouching({
    env: () => this.env,
    store: () => this.#store,
    profiles: this.profiles,
    revoke: (userId, sessionIds, reason, now, client) => this.#revocation.revoke(userId, sessionIds, reason, now, client),
  });
  /** The sessions list (src/sessions/session-list.ts). */
  readonly #list = new SessionList({ env: () => this.env, held: this.#held, profiles: this.profiles, clock: this.clock });
  /** This object's revocations (src/sessions/revocation.ts). */
  readonly #revocation = new Revocation({ env: () => this.env, held: this.#held, profiles: this.profiles, staged: () => this.drainSoon() });
  /** Sessions started in D1 taken into the store (src/sessions/adoption.ts). */
  readonly #adoption = new Adoption({ env: () => this.env, held: this.#held });
  /** The account's password checks in flight (src/rate-limit/attempt-gate.ts): memory only. */
  readonly #attempts = new AttemptGate();
  /** Refreshes and reissues (src/sessions/rotation.ts). */
  readonly #rotation = new Rotation({
    env: () => this.env,
    held: this.#held,
    profiles: this.profiles,
    clock: this.clock,
    vouching: this.#vouching,
    revocation: this.#revocation,
    adoption: this.#adoption,
  });
  /** The account's activity (src/activity/drain.ts, the table src/activity/object-log.ts). */
  readonly #activity = new ActivityDrain({ env: () => this.env, held: this.#held, storage: this.ctx.storage });
  /** The object's side of a change the Worker writes in D1, and the hold of its sessions (src/sessions/change-gate.ts). */
  readonly #changes = new ChangeGate({
    held: this.#held,
    profiles: this.profiles,
    clock: this.clock,
    storage: this.ctx.storage,
    activity: this.#activity,
    serial: (operation) => this.#serial(operation),
    owes: () => this.#owes(),
    drainSoon: () => this.drainSoon(),
  });
  /** Sign-ins started here (src/sessions/session-start.ts). */
  readonly #start = new SessionStart({
    env: () => this.env,
    held: this.#held,
    profiles: this.profiles,
    clock: this.clock,
    storage: this.ctx.storage,
    attempts: this.#attempts,
    activity: this.#activity,
    flush: () => this.#flush(),
  });

  get #store(): TokenStore {
    return this.#held.store;
  }

  /** The store if one exists, else null: reading or ending paths use it, so they create no storage. */
  get #existingStore(): TokenStore | null {
    return this.#held.existing;
  }

  get #db() {
    return drizzle(this.env.DB);
  }

  /**
   * Runs operations one at a time, across their awaits on D1. Each first writes what the object
   * owes D1 (src/sessions/outbox.ts), so none reads or writes D1 while a sign-in's writes are owed.
   */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(async () => {
      if (this.#owes()) await this.#flush();
      return operation();
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Writes what is owed D1 (src/sessions/outbox.ts). Each batch also drains the account's activity
   * (src/activity/drain.ts): it deletes from D1 the staged rows kept here by an earlier drain, and
   * reads those staged now, kept here after it; so draining adds no D1 write to the batch. The rows
   * it took are deleted from D1 by the alarm ACTIVITY_DRAIN_DELAY_MS later (slice 8: one write).
   */
  async #flush(): Promise<boolean> {
    const written = await flush(this.ctx.storage.sql, this.env.DB, {
      onEvicted: (ids) => ids.forEach((id) => this.profiles.forget(id)),
      drain: { releasing: () => this.#activity.releasing(), drained: (released, staged) => this.#activity.drained(released, staged) },
    });
    if (written) await alarmBy(this.ctx.storage, this.#activity.releaseSoon());
    return written;
  }

  /**
   * Called when this user's D1 staging may hold new activity rows (issue 27, slice 8): by each
   * `endChange`, the object's own revocations, a counted failed sign-in, and the Worker after a
   * change that stages an event outside `changeUser` (src/activity/drain-soon.ts). Marks it and sets
   * the alarm for ACTIVITY_DRAIN_DELAY_MS from now (unless one is set sooner); the alarm drains. No D1 trip.
   */
  async drainSoon(): Promise<void> {
    await alarmBy(this.ctx.storage, this.#activity.soon());
  }

  /** True when a sign-in started here still owes D1 its writes. */
  #owes(): boolean {
    return this.#existingStore !== null && owed(this.ctx.storage.sql);
  }

  /**
   * As `ProfileObject.beginChange`, after what the object owes D1, recording a D1-path sign-in's
   * single-use proof (`spend`) and naming the sessions held past their own expiry; `newUser`: a new
   * guest's sign-up, whose change is kept in memory only (src/sessions/change-gate.ts).
   */
  override beginChange(spend?: SpentProof, newUser?: boolean): Promise<ChangeTicket> {
    return this.#changes.begin(spend, () => super.beginChange(undefined, newUser));
  }

  /**
   * As `ProfileObject.endChange`; with `register.hold` (a sign-in the Worker wrote in D1), the store
   * holds the new session from now on, or the call rejects (src/sessions/change-gate.ts, hold.ts).
   */
  override endChange(id: string, register?: SessionRegistration): Promise<void> {
    return this.#changes.end(id, register, (i, r) => super.endChange(i, r));
  }

  /**
   * Starts a sign-in's session here, with no D1 trip when the guard is current
   * (src/sessions/session-start.ts); `{ ok: false }`: take the D1 path. The D1 writes it owes follow
   * the answer (the next operation of the queue, or the alarm).
   */
  startSession(input: StartSessionInput): Promise<StartOutcome> {
    const outcome = this.#serial(() => this.#start.start(input));
    this.#serial(async () => undefined).catch(() => undefined);
    return outcome;
  }

  /**
   * Reserves one password check of this account (src/rate-limit/login-attempt.ts). What is owed D1
   * is written first, so a failure counted after it is never undone by an owed clear. Creates no storage.
   */
  async reserveAttempt(input: ReserveInput): Promise<ReserveOutcome> {
    await this.settle();
    return this.#attempts.reserve(input);
  }

  /** Ends a reservation of `reserveAttempt`; a counted failure staged its `sign_in_failed`: drained soon. */
  async releaseAttempt(input: ReleaseInput): Promise<void> {
    this.#attempts.release(input);
    if (input.outcome === "failed") await this.drainSoon();
  }

  /** Writes what this object owes D1 before answering; true when something was owed. For D1 readers that missed a session. */
  async settle(): Promise<boolean> {
    if (!this.#owes()) return false;
    await this.#serial(async () => undefined);
    return true;
  }

  /**
   * Retries what is still owed to D1 (set by `startSession`; a failure throws, and the runtime
   * retries the alarm), drains D1's staged activity rows of this user (its name: `idFromName(userId)`)
   * when `drainSoon` marked some or rows kept here are still staged there (src/activity/drain.ts
   * `drainDue`; else no D1 trip), drops the activity past its retention, and sets itself again for
   * the sooner of a drain left unfinished and the end of the oldest event kept (`expire`): an
   * account that goes quiet keeps nothing past ACTIVITY_RETENTION_DAYS. An erased object creates no storage here: nothing is staged
   * for a deleted account, and `expire` reads only a store that exists.
   */
  override async alarm(): Promise<void> {
    const next = await this.#serial(async () => {
      const drainAgain = await this.#activity.drainDue(this.ctx.id.name);
      const expiry = this.#activity.expire();
      return drainAgain === null ? expiry : expiry === null ? drainAgain : Math.min(drainAgain, expiry);
    });
    await alarmBy(this.ctx.storage, next);
  }

  /** `check`'s answer from storage (profile-object.ts): a held, unexpired, vouched session. Creates no storage. */
  protected override vouched(sessionId: string): CachedSession | undefined {
    const session = this.#existingStore?.session(sessionId);
    if (!session || (session.expires_at !== null && session.expires_at <= this.clock.now())) return undefined;
    const vouched = this.#vouching.vouched(session);
    return vouched && { user: vouched.user, expiresAt: session.expires_at };
  }

  /**
   * Rotates a refresh token. The same token again within the reuse window gets the same new pair
   * (parallel tabs stay signed in); after the window it revokes the whole session (src/sessions/rotation.ts).
   */
  refresh(input: ClientInfo & { token: string }): Promise<PairOutcome> {
    return this.#serial(() => this.#rotation.refresh(input));
  }

  /** Revokes the session a refresh token belongs to; unknown tokens are ignored. */
  revokeToken(token: string, client?: ClientInfo, reason = "signout"): Promise<string | null> {
    return this.#serial(() => this.#revocation.revokeToken(token, this.clock.now(), client, reason));
  }

  /**
   * Revokes the given sessions of this user, or all of them when `sessionIds` is left out, except
   * `keep`. Returns the ids that were active and are now revoked.
   */
  revokeSessions(input: { userId: string; sessionIds?: string[]; keep?: string; reason: string; client?: ClientInfo | null }): Promise<string[]> {
    return this.#serial(async () => {
      const now = this.clock.now();
      // From D1, the record: it also lists the sessions this object has not adopted yet.
      const live = await liveSessionIds(this.#db, input.userId, now, input.sessionIds);
      // D1's expiry may be later than a held session's own (vouch.ts): those the store holds expired are left out.
      const expired = new Set(this.#existingStore?.expiredSessionIds(now));
      const targets = live.map((s) => s.id).filter((id) => id !== input.keep && !expired.has(id));
      await this.#revocation.revoke(input.userId, targets, input.reason, now, input.client);
      return targets;
    });
  }

  /**
   * This user's live sessions, most recently used first: no D1 trip when the store is complete at the
   * current change epoch, else one D1 read (src/sessions/session-list.ts `SessionList`). With
   * `current`, null unless that session is among them: the list's liveness check.
   */
  listSessions(input: { userId: string; current?: string }): Promise<HeldSessionView[] | null> {
    return this.#serial(() => this.#list.list(input));
  }

  /**
   * A page of this user's activity (API.md §9), newest first, after taking what D1 holds staged
   * (src/activity/drain.ts): one D1 read batch, with the liveness of `sessionId` when given (null:
   * not live). The staged rows taken are deleted from D1 after the answer.
   */
  readActivity(input: ActivityRead): Promise<LoggedEvent[] | null> {
    const page = this.#serial(() => this.#activity.read(input));
    // After the answer, and only for a read that was answered: a refused one leaves D1 as it was.
    this.#serial(async () => {
      if ((await page.catch(() => null)) === null) return;
      await this.#activity.release(input.userId);
      await alarmBy(this.ctx.storage, this.#activity.expire());
    }).catch(() => undefined);
    return page;
  }

  /**
   * Deletes everything this object stores (account deletion, API.md §9), after the operations
   * queued before it. The D1 rows are the caller's to delete, in its own batch, first: with them
   * gone no sign-in guard, refresh or reissue can succeed, so nothing can be written here again
   * but an empty token store on a later call.
   */
  erase(): Promise<void> {
    return this.#serial(async () => {
      this.#held.erased();
      this.profiles.invalidate();
      this.profiles.forgetChanges();
      await this.ctx.storage.deleteAll();
    });
  }

  /**
   * Gives the session a fresh pair, for a new role (a guest upgraded) and its new expiry, or a new
   * assurance (a second factor activated or shown for step-up, API.md §15): src/sessions/rotation.ts.
   */
  reissue(input: ReissueInput): Promise<PairOutcome> {
    return this.#serial(() => this.#rotation.reissue(input));
  }
}
