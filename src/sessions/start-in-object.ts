/**
 * The Worker's half of a sign-in started in the user's Durable Object (issue 27, slice 3;
 * src/sessions/session-start.ts is the object's): for an existing account signing in with no
 * condition of its own on the batch (no `onlyIf`, no guest to merge, no second factor being spent),
 * `signIn` (src/sessions/issue.ts) asks the object first. The D1 statements today's batch would run
 * are built here as they are there, as text (`RawStatement`), and the object keeps them in its
 * outbox with the session, in one transaction, and writes them after answering. The `sign_in` event
 * is not among them: the object keeps it with the session (slice 5, src/activity/object-log.ts). Undefined: the
 * object did not decide (see session-start.ts), and `signIn` takes its D1 path.
 *
 * @example
 * const pair = await startInObject(deps, input, { sessionId, refreshToken, expiresAt, assurance, method, now });
 * if (pair) return pair; // else the D1 batch, as before
 */
import { drizzle } from "drizzle-orm/d1";
import { recordSignInStatement } from "../accounts/statements";
import { sha256 } from "../crypto";
import { insertForUser } from "../db/insert-where";
import { sessions } from "../db/schema";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { clearLoginAttemptsStatement } from "../rate-limit";
import type { Assurance } from "../tokens";
import type { IssuedPair } from "../types";
import type { SignInInput } from "./sign-in-input";
import { notWrittenYet, rawStatement } from "./outbox";
import { tokenPair } from "./pair";
import { d1Expiry } from "./vouch";

/**
 * True when the sign-in may start in the object: an existing account (a guest signing in again with
 * its passkey or identity too), nothing else in its batch's guard.
 */
export function mayStartInObject(input: SignInInput): boolean {
  return !input.createGuest && !input.mergeGuest && !input.secondFactor && !input.onlyIf;
}

/** The session the sign-in makes (ids, its first refresh token, expiry in ms, assurance, `amr` joined). */
export interface NewSession {
  sessionId: string;
  refreshToken: string;
  expiresAt: number | null;
  assurance: Assurance;
  method: string;
  now: number;
}

/**
 * Starts the session in the user's object; undefined when it did not decide (nothing written), null
 * when it refused a single-use proof spent before (`input.spend`: nothing written, the sign-in fails).
 * Object errors propagate (the object answers before anything is owed when its own D1 read fails).
 */
export async function startInObject(deps: Deps, input: SignInInput, session: NewSession): Promise<IssuedPair | null | undefined> {
  const db = drizzle(deps.env.DB);
  const { sessionId, now, expiresAt, assurance } = session;
  const client = deps.client;
  const d1ExpiresAt = d1Expiry(deps.config, expiresAt, now);
  const fresh = notWrittenYet(db, input.userId, sessionId);
  const statements = [
    clearLoginAttemptsStatement(db, input.userId, fresh, now),
    recordSignInStatement(db, input.userId, now, fresh),
    ...(input.alsoRun ?? []),
    ...(input.spend?.alsoRun ?? []),
    // Last: the guard of every statement above is this row's absence. No first token's hash: the object holds the session.
    // No client either: the object is of record for a held session's last use and client (slice 7).
    insertForUser(db, sessions, { id: sessionId, userId: input.userId, createdAt: now, lastUsedAt: null, expiresAt: d1ExpiresAt, ipAddress: null, userAgent: null, firstRefreshTokenHash: null, aal: null, amr: null, authTime: null }, fresh),
  ].map((statement) => rawStatement(statement as unknown as Parameters<typeof rawStatement>[0]));
  const [tokenHash, passwordFp] = await Promise.all([sha256(session.refreshToken), input.passwordHash === undefined ? undefined : sha256(input.passwordHash)]);
  const role = input.role ?? "user";
  const outcome = await userSessions(deps, input.userId).startSession({
    userId: input.userId,
    sessionId,
    role,
    tokenHash,
    now,
    expiresAt,
    d1ExpiresAt,
    assurance,
    client: { ipAddress: client.ipAddress, userAgent: client.userAgent },
    ...(passwordFp === undefined ? {} : { passwordFp }),
    needsNoFactor: input.method !== "passkey",
    method: session.method,
    statements,
    ...(input.attempt ? { attemptId: input.attempt.id } : {}),
    ...(input.spend ? { spend: { key: input.spend.key, expiresAt: input.spend.expiresAt, ...(input.spend.address === undefined ? {} : { address: input.spend.address }) } } : {}),
  });
  if (!outcome.ok) return outcome.spent ? null : undefined;
  if (input.attempt) input.attempt.settled = true;
  return tokenPair(deps.config, { userId: input.userId, sessionId, role, expiresAt, assurance }, session.refreshToken, outcome.user, now);
}
