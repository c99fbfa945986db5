/**
 * The second factor's statements for other folders' D1 batches (src/mfa owns its tables): the
 * sign-in funnel's "has an active factor" guard and pending-sign-in insert (src/sessions/issue.ts),
 * and the clean-ups a disable, a deletion or an admin reset put in their own batches.
 *
 * @example
 * const guard = and(account, not(hasActiveFactor(db, userId)));
 * const challenge = await insertChallengeStatement(db, { userId, method: "password", now }, and(account, hasActiveFactor(db, userId)));
 * await db.batch([insertWhere(db, sessions, row, guard), challenge.statement]);
 */
import { and, count, eq, exists, isNotNull, isNull, lt } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { randomToken, sha256 } from "../crypto";
import { insertWhere } from "../db/insert-where";
import { MfaRequiredError } from "../http/errors";
import { mfaChallenges, mfaFactors, recoveryCodes } from "./schema";

/** A drizzle D1 database with or without a schema (src/deletion passes its own). */
type AnyDatabase = DrizzleD1Database<Record<string, unknown>>;

/** How long an `mfaToken` lives (API.md §15: 5 minutes). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Tries an `mfaToken` allows; the fifth wrong code voids it. */
export const MAX_CHALLENGE_ATTEMPTS = 5;

/** `EXISTS` an active factor of the user, as a guard. */
export function hasActiveFactor(db: DrizzleD1Database, userId: string): SQL {
  return exists(db.select({ id: mfaFactors.id }).from(mfaFactors).where(and(eq(mfaFactors.userId, userId), isNotNull(mfaFactors.activatedAt))));
}

/**
 * A new pending sign-in and its `mfaToken` (256 random bits; only its SHA-256 is stored), inserted
 * only while `onlyIf` holds. `pending` is what the sign-in carries for its completion (JSON).
 */
export async function insertChallengeStatement(
  db: DrizzleD1Database,
  input: { userId: string; method: string; pending?: Record<string, unknown> | undefined; now: number },
  onlyIf: SQL,
) {
  const token = randomToken(32);
  const row = {
    tokenHash: await sha256(token),
    userId: input.userId,
    method: input.method,
    options: input.pending ? JSON.stringify(input.pending) : null,
    attempts: 0,
    createdAt: input.now,
    expiresAt: input.now + CHALLENGE_TTL_MS,
  };
  return { token, statement: insertWhere(db, mfaChallenges, row, onlyIf) };
}

/** The 403 for a pending sign-in: its token and the kinds of factor the account can answer with. */
export async function mfaRequired(db: DrizzleD1Database, userId: string, token: string): Promise<MfaRequiredError> {
  const [codes] = await db.select({ n: count() }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return new MfaRequiredError(token, (codes?.n ?? 0) > 0 ? ["totp", "recovery_code"] : ["totp"]);
}

/** Ends every pending `mfaToken` of the user (a disable, a deletion, an admin reset, a removal). */
export function endChallengesStatement(db: AnyDatabase, userId: string, onlyIf?: SQL) {
  return db.delete(mfaChallenges).where(and(eq(mfaChallenges.userId, userId), onlyIf));
}

/**
 * Ends the user's pending sign-ins whose first factor was the password, while `onlyIf` holds: a
 * change of password must not leave an `mfaToken` won with the old one (a phished password and a
 * relayed code) usable for its remaining minutes.
 */
export function endPasswordChallengesStatement(db: AnyDatabase, userId: string, onlyIf?: SQL) {
  return db.delete(mfaChallenges).where(and(eq(mfaChallenges.userId, userId), eq(mfaChallenges.method, "password"), onlyIf));
}

/** Removes every factor (pending or active) and recovery code of the user. */
export function removeFactorsStatements(db: AnyDatabase, userId: string, onlyIf?: SQL) {
  return [
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), onlyIf)),
    db.delete(mfaFactors).where(and(eq(mfaFactors.userId, userId), onlyIf)),
  ] as const;
}

/**
 * The daily clean-up's part (src/maintenance): pending sign-ins (`mfaToken`s) past their expiry, and
 * enrolments never activated past theirs, at `now` (ms). Without it a password typed and a second
 * factor never given, or an enrolment abandoned, would keep its row until the account is deleted.
 */
export function purgeMfaStatements(db: AnyDatabase, now: number) {
  return [
    db.delete(mfaChallenges).where(lt(mfaChallenges.expiresAt, now)),
    db.delete(mfaFactors).where(and(isNull(mfaFactors.activatedAt), lt(mfaFactors.expiresAt, now))),
  ] as const;
}
