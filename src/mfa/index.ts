/**
 * The second factor (API.md §15): enrolling and activating a TOTP factor, listing it, removing it,
 * renewing recovery codes, step-up, and the administrator's reset. Completing a sign-in with a code
 * is src/mfa/verify.ts; the decision that a sign-in needs one is src/sessions/issue.ts.
 *
 * Every change that turns the factor on or off is one D1 batch: the factor, the recovery codes, the
 * user's `mfa_enabled`, the pending `mfaToken`s and the activity event together (a further event,
 * such as a webhook's `user.updated`, belongs in the same batch).
 *
 * @example
 * const { factorId, secret, otpauthUri } = await enrollTotp(deps, auth, { password });
 * const { factor, recoveryCodes, tokens } = await activateTotp(deps, auth, { factorId, code });
 */
import { changeUser } from "../accounts/change-user";
import { and, asc, count, eq, gt, isNotNull, isNull, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import { requireReauthentication } from "../accounts/reauthentication";
import type { ReauthProof } from "../accounts/reauthentication";
import { setMfaEnabledStatement } from "../accounts/statements";
import { users } from "../accounts/schema";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError } from "../http/errors";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../types";
import { insertWhere } from "../db/insert-where";
import { previousChanged, publish, userEvent } from "../events";
import { RECOVERY_CODE_COUNT, mfaConfigured, newRecoveryCode, openSecret, recoveryCodeHash, sealSecret } from "./crypto";
import { proveSecondFactor } from "./verify";
import { sendMail } from "../mail";
import { factorChangedMail } from "./mail";
import type { UserRow } from "../accounts/schema";
import { endChallengesStatement, removeFactorsStatements } from "./statements";
import { mfaFactors, recoveryCodes } from "./schema";
import { matchingStep, otpauthUri } from "./totp";
import { base32 } from "./totp";

export { verifyMfa } from "./verify";

/** How long an enrolled factor waits for its first code (API.md §15: 15 minutes). */
export const PENDING_TTL_MS = 15 * 60_000;

export interface FactorView {
  id: string;
  type: "totp";
  /** ISO 8601. */
  createdAt: string;
  lastUsedAt: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function requireConfigured(deps: Deps): void {
  if (!mfaConfigured(deps.config)) throw new AuthError("not_found", "No such route");
}

function requireFullAccount(auth: Auth): void {
  if (auth.user.isGuest) throw new AuthError("forbidden", "A guest cannot add a second factor; upgrade the account first");
}

/**
 * POST /v1/auth/mfa/totp: a pending factor (15 minutes) with its secret, shown once. A full account
 * only; §9 re-authentication first (the password, or a recent sign-in without one), so a stolen
 * session alone cannot enrol a factor of its own. 409 while a factor is active.
 */
export async function enrollTotp(deps: Deps, auth: Auth, proof: ReauthProof): Promise<{ factorId: string; secret: string; otpauthUri: string }> {
  requireConfigured(deps);
  requireFullAccount(auth);
  if (auth.user.mfaEnabled) throw new AuthError("conflict", "A second factor is already active; remove it first");
  await requireReauthentication(deps, auth, proof);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const factorId = crypto.randomUUID();
  const secret = crypto.getRandomValues(new Uint8Array(20));
  const row = {
    id: factorId,
    userId: auth.userId,
    type: "totp",
    secretSealed: await sealSecret(deps.config, { factorId, userId: auth.userId }, secret),
    createdAt: now,
    expiresAt: now + PENDING_TTL_MS,
    activatedAt: null,
    lastUsedStep: 0,
    lastUsedAt: null,
  };
  const noActive = sql`NOT EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.userId} = ${auth.userId} AND ${mfaFactors.activatedAt} IS NOT NULL)`;
  const [, inserted] = await db.batch([
    // Pending factors that expired, or earlier unconfirmed ones, are of no further use.
    db.delete(mfaFactors).where(and(eq(mfaFactors.userId, auth.userId), isNull(mfaFactors.activatedAt))),
    insertWhere(db, mfaFactors, row, noActive),
  ]);
  if (inserted.meta.changes !== 1) throw new AuthError("conflict", "A second factor is already active; remove it first");
  const account = auth.user.email ?? auth.user.username ?? auth.userId;
  return { factorId, secret: base32(secret), otpauthUri: otpauthUri({ secret, issuer: deps.config.platformName, account }) };
}

/**
 * POST /v1/auth/mfa/totp/activate: the pending factor's first code turns it on, in one batch with a
 * new set of recovery codes, the user's `mfa_enabled` and `mfa_enabled`. The compare-and-set re-seals
 * the secret under a fresh IV, which names this request's activation: of two concurrent activations
 * only one lands, and only its recovery codes are stored. Then the calling session is made aal2.
 * 404 for an unknown, expired or active factor; 401 for a wrong code.
 */
export async function activateTotp(
  deps: Deps,
  auth: Auth,
  input: { factorId: string; code: string },
): Promise<{ factor: FactorView; recoveryCodes: string[]; tokens: IssuedPair }> {
  requireConfigured(deps);
  requireFullAccount(auth);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const pending = and(eq(mfaFactors.id, input.factorId), eq(mfaFactors.userId, auth.userId), isNull(mfaFactors.activatedAt), gt(mfaFactors.expiresAt, now));
  const [row] = await db.select().from(mfaFactors).where(pending);
  if (!row) throw new AuthError("not_found", "No such pending factor (it may have expired: enrol again)");
  const secret = await openSecret(deps.config, { factorId: row.id, userId: auth.userId }, row.secretSealed);
  const step = await matchingStep(secret, input.code, now);
  if (step === null) {
    await activityStatement(db, { userId: auth.userId, type: "mfa_failed", method: "totp", sessionId: auth.sessionId, client: deps.client });
    drainSoon(deps, auth.userId);
    throw new AuthError("invalid_credentials", "The code is wrong; check the device's clock and try again");
  }
  const resealed = await sealSecret(deps.config, { factorId: row.id, userId: auth.userId }, secret);
  const won = sql`EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.id} = ${row.id} AND ${mfaFactors.secretSealed} = ${resealed})`;
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  const hashes = await Promise.all(codes.map((code) => recoveryCodeHash(deps.config, code)));
  let activated: D1Result;
  // API.md §16: `user.updated` (second factor on), written with the change, only by the winner.
  const updated = userEvent(db, "user.updated", auth.userId, { onlyIf: won, at: now });
  try {
    [activated] = await changeUser(deps, auth.userId, () => db.batch([
      db.update(mfaFactors).set({ activatedAt: now, expiresAt: null, lastUsedStep: step, lastUsedAt: now, secretSealed: resealed }).where(pending),
      db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, auth.userId), won)),
      ...hashes.map((codeHash) => insertWhere(db, recoveryCodes, { codeHash, userId: auth.userId, createdAt: now, usedAt: null }, won)),
      setMfaEnabledStatement(db, auth.userId, true, now, won),
      activityStatement(db, { userId: auth.userId, type: "mfa_enabled", sessionId: auth.sessionId, client: deps.client, at: now }, won),
      updated.statement,
    ]));
  } catch (error) {
    // The partial unique index (one active factor per account) refused a second activation.
    if (String((error as Error)?.message ?? "").includes("UNIQUE") || String((error as { cause?: Error })?.cause?.message ?? "").includes("UNIQUE")) {
      throw new AuthError("conflict", "A second factor is already active");
    }
    throw error;
  }
  if (activated.meta.changes !== 1) throw new AuthError("not_found", "No such pending factor (it may have been activated already)");
  publish(deps, updated);
  factorNotice(deps, auth.user, "enabled");
  const outcome = await userSessions(deps, auth.userId).reissue({ userId: auth.userId, sessionId: auth.sessionId, role: "user", addMethod: "totp", ...deps.client });
  if (!outcome.ok) throw new AuthError("invalid_token", "The session has ended");
  return { factor: { id: row.id, type: "totp", createdAt: iso(row.createdAt)!, lastUsedAt: iso(now) }, recoveryCodes: codes, tokens: outcome.pair };
}

/** GET /v1/auth/mfa: the active factor (if any) and how many recovery codes are unused. */
export async function listFactors(deps: Deps, auth: Auth): Promise<{ factors: FactorView[]; recoveryCodesRemaining: number }> {
  const db = drizzle(deps.env.DB);
  const [factors, [unused]] = await db.batch([
    db.select().from(mfaFactors).where(and(eq(mfaFactors.userId, auth.userId), isNotNull(mfaFactors.activatedAt))).orderBy(asc(mfaFactors.createdAt)),
    db.select({ n: count() }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, auth.userId), isNull(recoveryCodes.usedAt))),
  ]);
  return {
    factors: factors.map((f) => ({ id: f.id, type: "totp" as const, createdAt: iso(f.createdAt)!, lastUsedAt: iso(f.lastUsedAt) })),
    recoveryCodesRemaining: unused?.n ?? 0,
  };
}

/**
 * DELETE /v1/auth/mfa/totp/:factorId: step-up first (aal2 within 10 minutes, or the password and a
 * code), then the factor, every recovery code and pending `mfaToken` go, with `mfa_disabled`, in one
 * batch. 404 for a factor that is not the caller's.
 */
export async function removeTotp(deps: Deps, auth: Auth, factorId: string, proof: ReauthProof): Promise<void> {
  const db = drizzle(deps.env.DB);
  const [row] = await db.select({ id: mfaFactors.id }).from(mfaFactors).where(and(eq(mfaFactors.id, factorId), eq(mfaFactors.userId, auth.userId), isNotNull(mfaFactors.activatedAt)));
  if (!row) throw new AuthError("not_found", "No such factor");
  await requireReauthentication(deps, auth, proof);
  const removed = await disableStatements(deps, db, auth.userId, auth.sessionId, sql`EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.id} = ${factorId})`);
  if (!removed) throw new AuthError("not_found", "No such factor");
  factorNotice(deps, auth.user, "disabled");
}

/** Mails the verified address that the factor was turned on or off (./mail.ts). */
function factorNotice(deps: Deps, user: Pick<UserRow, "email" | "emailVerifiedAt">, change: "enabled" | "disabled"): void {
  if (user.email && user.emailVerifiedAt !== null) sendMail(deps, factorChangedMail({ to: user.email, platformName: deps.config.platformName, change }));
}

/**
 * The one batch that turns the factor off (a removal, an admin reset): the event first, while the
 * factor still exists, then the codes, the factors, the pending tokens and `mfa_enabled`, and
 * `user.updated` (API.md §16) only when `mfa_enabled` went from on to off. True when a factor was
 * removed.
 */
async function disableStatements(deps: Deps, db: DrizzleD1Database, userId: string, sessionId: string | null, onlyIf: ReturnType<typeof sql>): Promise<boolean> {
  const now = Date.now();
  const client = sessionId ? deps.client : null;
  const updated = userEvent(db, "user.updated", userId, { onlyIf: previousChanged, at: now });
  const [, , factors, , , event] = await changeUser(deps, userId, () => db.batch([
    activityStatement(db, { userId, type: "mfa_disabled", sessionId, client, at: now }, and(onlyIf, sql`EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.userId} = ${userId} AND ${mfaFactors.activatedAt} IS NOT NULL)`)),
    ...removeFactorsStatements(db, userId, onlyIf),
    endChallengesStatement(db, userId),
    setMfaEnabledStatement(db, userId, false, now, and(eq(users.mfaEnabled, true), sql`NOT EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.userId} = ${userId} AND ${mfaFactors.activatedAt} IS NOT NULL)`)),
    updated.statement,
  ]));
  if (event.meta.changes === 1) publish(deps, updated);
  return factors.meta.changes > 0;
}

/** DELETE /v1/admin/users/:userId/mfa: factors, recovery codes and pending tokens removed; 404 unknown user. */
export async function adminResetMfa(deps: Deps, userId: string): Promise<void> {
  const db = drizzle(deps.env.DB);
  const [user] = await db.select({ id: users.id, email: users.email, emailVerifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.id, userId));
  if (!user) throw new AuthError("not_found", "No such user");
  if (await disableStatements(deps, db, userId, null, sql`1 = 1`)) factorNotice(deps, user, "disabled");
}

/**
 * POST /v1/auth/mfa/recovery-codes: step-up first, then a new set of ten replaces the old one
 * (`recovery_codes_regenerated`), in one batch; 404 without an active factor.
 */
export async function regenerateRecoveryCodes(deps: Deps, auth: Auth, proof: ReauthProof): Promise<string[]> {
  if (!auth.user.mfaEnabled) throw new AuthError("not_found", "The account has no second factor");
  await requireReauthentication(deps, auth, proof);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  const hashes = await Promise.all(codes.map((code) => recoveryCodeHash(deps.config, code)));
  const active = sql`EXISTS (SELECT 1 FROM ${mfaFactors} WHERE ${mfaFactors.userId} = ${auth.userId} AND ${mfaFactors.activatedAt} IS NOT NULL)`;
  const results = await db.batch([
    activityStatement(db, { userId: auth.userId, type: "recovery_codes_regenerated", sessionId: auth.sessionId, client: deps.client, at: now }, active),
    db.delete(recoveryCodes).where(eq(recoveryCodes.userId, auth.userId)),
    ...hashes.map((codeHash) => insertWhere(db, recoveryCodes, { codeHash, userId: auth.userId, createdAt: now, usedAt: null }, active)),
  ]);
  if ((results[2] as D1Result).meta.changes !== 1) throw new AuthError("not_found", "The account has no second factor");
  drainSoon(deps, auth.userId);
  return codes;
}

/**
 * POST /v1/auth/mfa/step-up: a code (or recovery code) makes the calling session aal2 with
 * `auth_time` now; the answer is its new pair (the old refresh token is superseded).
 */
export async function stepUp(deps: Deps, auth: Auth, input: { code?: string | undefined; recoveryCode?: string | undefined }): Promise<IssuedPair> {
  if (!auth.user.mfaEnabled) throw new AuthError("not_found", "The account has no second factor");
  const method = await proveSecondFactor(deps, auth.user, input, auth.sessionId);
  const outcome = await userSessions(deps, auth.userId).reissue({ userId: auth.userId, sessionId: auth.sessionId, role: auth.role, addMethod: method, ...deps.client });
  if (!outcome.ok) throw new AuthError("invalid_token", "The session has ended");
  return outcome.pair;
}
