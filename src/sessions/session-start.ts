/**
 * A sign-in's session started in the user's Durable Object (issue 27, slice 3; docs/edge-sessions.md
 * "Built: slice 3"): the session, the 6th-session rule and the D1 writes it owes are one object
 * transaction, so the sign-in makes no D1 trip after its lookup. The Worker has already checked the
 * credential against the account's row it read (one trip); the object decides whether that check
 * still holds, from what D1 showed it at the current change epoch:
 *
 * - **The guard** (`SignInGuard`, kept in the token store at an epoch): the account is enabled, a
 *   guest exactly when the sign-in's role says so (a guest upgraded meanwhile is not), has no active second factor when the method needs one (API.md §15), and, for a password
 *   sign-in, its stored hash is the one the password was checked against (compared by SHA-256).
 *   Every writer of those facts moves the epoch (`changeUser`, src/accounts/change-user.ts, which the
 *   password change and the login's re-hash use too), so a guard kept at the current epoch with no
 *   change pending is D1's answer now, as today's guarded batch would read it.
 * - **The 6th-session rule**: applied to the store, which must be complete at the current epoch
 *   (src/sessions/session-list.ts: it holds every live session). The oldest live sessions past
 *   MAX_SESSIONS_PER_USER are forgotten in the same transaction; their D1 revocations go in the
 *   outbox entry, and that entry is written before the sign-in answers (so every D1 reader refuses
 *   them at once). Without evictions the entry is written after the answer (src/sessions/outbox.ts).
 * - **Not current** (a change since, a pending one, a store not complete, a guard that differs): one
 *   D1 read of the account and its live sessions (`signInRead`), kept when no change overlapped it,
 *   and the guard decided again. Anything it cannot decide (a change overlapping, a factor to ask
 *   for, a hash that differs, a disabled account, a role that no longer fits) answers `{ ok: false }`, and the Worker
 *   takes the sign-in's D1 path (src/sessions/issue.ts), which answers every such case as before.
 *
 * @example
 * const start = new SessionStart({ env: () => this.env, held, profiles, clock, ctx });
 * const outcome = await start.start(input); // inside the object's serial queue
 */
import { drizzle } from "drizzle-orm/d1";
import { normalizeEmail, publicUser } from "../accounts/users";
import { loadConfig } from "../config";
import { constantTimeEqual, sha256 } from "../crypto";
import type { Assurance } from "../tokens";
import type { ClientInfo, PublicUser, Role } from "../types";
import type { HeldStore } from "./held-store";
import { signInRead } from "./object-statements";
import { addEntry } from "./outbox";
import type { RawStatement } from "./outbox";
import type { ProfileCache } from "./profile-cache";
import { holdSessions } from "./session-list";
import type { Clock, SignInGuard } from "./token-store";
import type { AttemptGate } from "../rate-limit/attempt-gate";
import type { ActivityDrain } from "../activity/drain";
import { isSpent, markSpent } from "./spent-proofs";
import type { SpentProof } from "./spent-proofs";

/** How soon the object's alarm retries an entry still owed (ms), if nothing else flushed it. */
export const OUTBOX_RETRY_MS = 10_000;

/** A sign-in the Worker asks the object to start. Times in ms. */
export interface StartSessionInput {
  userId: string;
  sessionId: string;
  /** The access token's role: "guest" only for a guest's account, "user" only for a full one. */
  role: Role;
  /** SHA-256 (hex) of the session's first refresh token. */
  tokenHash: string;
  /** The sign-in's instant, the session's true expiry (null: none) and the expiry D1's row gets. */
  now: number;
  expiresAt: number | null;
  d1ExpiresAt: number | null;
  assurance: Assurance;
  client: ClientInfo;
  /** A password sign-in: SHA-256 (hex) of the stored hash the password was checked against. */
  passwordFp?: string;
  /** True when an active second factor must send the sign-in to D1's path (its challenge). */
  needsNoFactor: boolean;
  /** The D1 statements the outbox writes, in order, the session's insert last (src/sessions/start-in-object.ts). */
  statements: RawStatement[];
  /** How the sign-in proved who it is: its `sign_in` event's method (API.md §9), kept in this object. */
  method: string;
  /** A password check's reservation in this object's gate (src/rate-limit/attempt-gate.ts), ended as cleared when the session starts. */
  attemptId?: string;
  /** A single-use proof the sign-in spends (an email code): recorded here with the session, refused when recorded before (src/sessions/spent-proofs.ts). */
  spend?: SpentProof;
}

/**
 * Started (with the public user the answer shows); `spent`: refused, its proof was spent before
 * (nothing written; the sign-in fails); else not decided here: take the D1 path.
 */
export type StartOutcome = { ok: true; user: PublicUser } | { ok: false; spent?: true };

/** What `SessionStart` works with. */
export interface SessionStartParts {
  env: () => Env;
  held: HeldStore;
  profiles: ProfileCache;
  clock: Clock;
  storage: DurableObjectStorage;
  /** The account's gate of password checks in flight. */
  attempts: AttemptGate;
  /** The account's activity here (src/activity/drain.ts): the sign-in's event is kept with its session. */
  activity: ActivityDrain;
  /** Writes what the object owes D1 (src/sessions/outbox.ts `flush`, with the object's listener). */
  flush: () => Promise<boolean>;
}

/** The user object's session start, as described above. Runs inside the object's serial queue. */
export class SessionStart {
  constructor(private readonly parts: SessionStartParts) {}

  /** Starts the session, or `{ ok: false }` (nothing written). D1 errors of the cold read or an eviction's flush propagate. */
  async start(input: StartSessionInput): Promise<StartOutcome> {
    const { held, profiles, clock, storage } = this.parts;
    if (input.spend && held.existing && isSpent(storage.sql, input.spend.key, Date.now())) return { ok: false, spent: true };
    let guard = this.#current();
    if (!guard || !passes(guard, input)) {
      const ticket = profiles.ticket(Date.now());
      const read = await signInRead(drizzle(this.parts.env().DB), input.userId, Date.now());
      if (!read.user || read.user.disabledAt !== null) return { ok: false };
      const fresh: SignInGuard = { user: publicUser(read.user), passwordFp: read.user.passwordHash ? await sha256(read.user.passwordHash) : null };
      if (!profiles.current(ticket, Date.now())) return { ok: false };
      const store = held.store;
      holdSessions(store, read.sessions, read.user.isGuest, new Map(store.sessions().map((s) => [s.id, s])));
      store.setCompleteAt(ticket.epoch);
      store.setGuard(ticket.epoch, fresh);
      guard = fresh;
      if (!passes(guard, input)) return { ok: false };
    }
    // From here to the entry, no await: the guard decided at this epoch is the one the write keeps.
    const store = held.store;
    // Again after the awaits above: a sign-in on the D1 path may have recorded the proof meanwhile (`beginChange`).
    if (input.spend && isSpent(storage.sql, input.spend.key, Date.now())) return { ok: false, spent: true };
    const epoch = profiles.epoch;
    const now = clock.now();
    const max = loadConfig(this.parts.env()).maxSessionsPerUser;
    const live = store
      .sessions()
      .filter((s) => s.expires_at === null || s.expires_at > now)
      .sort((a, b) => (b.signed_in_at ?? b.created_at) - (a.signed_in_at ?? a.created_at) || (a.id < b.id ? 1 : -1));
    const evicted = live.slice(Math.max(0, max - 1)).map((s) => s.id);
    // The store keeps the object's time (tests move it; in production the shift is 0); D1's rows keep the real one.
    const at = (ms: number | null) => (ms === null ? null : ms + now - Date.now());
    storage.transactionSync(() => {
      for (const id of evicted) store.forget(id);
      const { client } = input;
      const d1ExpiresAt = at(input.d1ExpiresAt);
      store.addSession(input.sessionId, at(input.now)!, at(input.expiresAt), input.tokenHash, { d1ExpiresAt, lastUsedAt: at(input.now)!, ...client, assurance: input.assurance });
      store.markChecked(input.sessionId, epoch, { user: guard.user, assurance: input.assurance, d1ExpiresAt });
      store.setRole(input.role);
      if (input.spend) markSpent(storage.sql, input.spend, Date.now());
      this.parts.activity.keep({ id: crypto.randomUUID(), type: "sign_in", method: input.method, created_at: input.now, ip_address: client.ipAddress, user_agent: client.userAgent, session_id: input.sessionId });
      addEntry(storage.sql, { userId: input.userId, sessionId: input.sessionId, evicted, at: input.now, client, statements: input.statements });
    });
    for (const id of evicted) profiles.forget(id);
    // The entry clears D1's count; the gate forgets the failures it knew of now.
    if (input.attemptId) this.parts.attempts.release({ id: input.attemptId, outcome: "cleared" });
    // The alarm retries what is still owed if nothing writes it first: also when the evictions' flush below fails.
    // (Sooner than an alarm already set for the activity's retention, src/sessions/user-object.ts `alarm`.)
    await alarmBy(storage, Date.now() + OUTBOX_RETRY_MS);
    if (evicted.length > 0) await this.parts.flush();
    return { ok: true, user: guard.user };
  }

  /** The guard kept at the current epoch, while no change is pending and the store is complete. */
  #current(): SignInGuard | undefined {
    const { held, profiles } = this.parts;
    const store = held.existing;
    if (!store || profiles.pendingAt(Date.now()) || store.completeAt() !== profiles.epoch) return undefined;
    return store.guard(profiles.epoch);
  }
}

/** Sets the object's alarm for `at` (ms) unless one is already set as early; null sets nothing. */
export async function alarmBy(storage: DurableObjectStorage, at: number | null): Promise<void> {
  if (at === null) return;
  const current = await storage.getAlarm();
  if (current === null || current > at) await storage.setAlarm(at);
}

/** Whether the guard lets this sign-in start here (see the module comment). */
function passes(guard: SignInGuard, input: StartSessionInput): boolean {
  if (guard.user.isGuest !== (input.role === "guest")) return false;
  // A proof mailed to an address the account no longer uses is not this account's to spend: the D1 path decides.
  if (input.spend?.address !== undefined && (guard.user.email === null || normalizeEmail(guard.user.email) !== input.spend.address)) return false;
  if (input.needsNoFactor && guard.user.mfaEnabled) return false;
  if (input.passwordFp === undefined) return true;
  return guard.passwordFp !== null && constantTimeEqual(guard.passwordFp, input.passwordFp);
}
