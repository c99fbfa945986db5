/**
 * Checking a second factor (API.md §15): a TOTP code against the account's active factor, or a
 * recovery code against its unused ones. The check reads (in the caller's batch) and compares; the
 * result is a proof whose guard and spending statements go into the batch that acts on it, so a
 * code is used once: a TOTP step by a compare-and-set on `last_used_step`, a recovery code by one on
 * `used_at`. Wrong codes are counted by the caller as failed logins of the account (§6) and recorded
 * as `mfa_failed`.
 *
 * @example
 * const reads = await factorReads(deps, db, sql`${userId}`, input);
 * const [factor, code] = await db.batch([reads.factor, reads.recoveryCode]);
 * const proof = await checkCode(deps, db, userId, factor[0], code[0], input, Date.now()); // or null
 */
import { and, count, eq, exists, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import type { Deps } from "../http/deps";
import { invalidRequest } from "../http/errors";
import { openSecret, recoveryCodeHash } from "./crypto";
import type { SecondFactorProof } from "./proof";
import { mfaFactors, recoveryCodes } from "./schema";
import type { MfaFactorRow } from "./schema";
import { matchingStep } from "./totp";

/** A second factor as a request sends it: exactly one of the two. */
export interface CodeInput {
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

/** Whether the input names a second factor at all. */
export const hasCode = (input: CodeInput) => Boolean(input.code || input.recoveryCode);

/** 400 unless exactly one of `code` and `recoveryCode` is given. */
export function requireOneCode(input: CodeInput): void {
  if (input.code && input.recoveryCode) throw invalidRequest("code", "send either code or recoveryCode, not both");
  if (!input.code && !input.recoveryCode) throw invalidRequest("code", "is required (or recoveryCode)");
}

/**
 * The reads a check needs, for the caller's batch: the active factor and, for a recovery code, its
 * unused row, and the count of unused codes (for the notice). `userIdOf` names the account (a
 * subquery, or a bound id).
 */
export async function factorReads(deps: Deps, db: DrizzleD1Database, userIdOf: SQL, input: CodeInput) {
  const hash = input.recoveryCode ? await recoveryCodeHash(deps.config, input.recoveryCode) : "";
  return {
    factor: db.select().from(mfaFactors).where(and(sql`${mfaFactors.userId} = (${userIdOf})`, isNotNull(mfaFactors.activatedAt))),
    recoveryCode: db
      .select({ codeHash: recoveryCodes.codeHash })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.codeHash, hash), sql`${recoveryCodes.userId} = (${userIdOf})`, isNull(recoveryCodes.usedAt))),
    unused: db.select({ n: count() }).from(recoveryCodes).where(and(sql`${recoveryCodes.userId} = (${userIdOf})`, isNull(recoveryCodes.usedAt))),
  };
}

/** A checked code: the proof to spend, and for a recovery code the notice to send after. */
export interface CheckedCode extends SecondFactorProof {
  recoveryCodeUsed: boolean;
}

/**
 * Compares the input with what `factorReads` found. Null when it is wrong (or there is no factor).
 * The proof's `onlyIf` holds while the step is above the factor's last used one, or the recovery
 * code unused; its `alsoRun` spends them and, for a recovery code, records `recovery_code_used`.
 */
export async function checkCode(
  deps: Deps,
  db: DrizzleD1Database,
  userId: string,
  factor: MfaFactorRow | undefined,
  recoveryCode: { codeHash: string } | undefined,
  input: CodeInput,
  now: number,
  sessionId: string | null = null,
): Promise<CheckedCode | null> {
  if (!factor) return null;
  if (input.recoveryCode) {
    if (!recoveryCode) return null;
    const unused = and(eq(recoveryCodes.codeHash, recoveryCode.codeHash), eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt));
    return {
      method: "recovery_code",
      recoveryCodeUsed: true,
      onlyIf: exists(db.select({ h: recoveryCodes.codeHash }).from(recoveryCodes).where(unused)),
      alsoRun: [
        activityStatement(db, { userId, type: "recovery_code_used", sessionId, client: deps.client, at: now }, exists(db.select({ h: recoveryCodes.codeHash }).from(recoveryCodes).where(unused))),
        db.update(recoveryCodes).set({ usedAt: now }).where(unused),
      ],
    };
  }
  if (!input.code) return null;
  const secret = await openSecret(deps.config, { factorId: factor.id, userId }, factor.secretSealed);
  const step = await matchingStep(secret, input.code, now);
  if (step === null || step <= factor.lastUsedStep) return null;
  const unusedStep = and(eq(mfaFactors.id, factor.id), isNotNull(mfaFactors.activatedAt), lt(mfaFactors.lastUsedStep, step));
  return {
    method: "totp",
    recoveryCodeUsed: false,
    onlyIf: exists(db.select({ id: mfaFactors.id }).from(mfaFactors).where(unusedStep)),
    alsoRun: [db.update(mfaFactors).set({ lastUsedStep: step, lastUsedAt: now }).where(unusedStep)],
  };
}

/** The `mfa_failed` event of a wrong code (the factor tried as its method). */
export function failedStatement(deps: Deps, db: DrizzleD1Database, userId: string, input: CodeInput, sessionId: string | null = null) {
  return activityStatement(db, { userId, type: "mfa_failed", method: input.recoveryCode ? "recovery_code" : "totp", sessionId, client: deps.client });
}
