/**
 * Single-use tokens mailed for email verification and password reset (API.md §7): 256 random bits,
 * only the SHA-256 kept, a newer token of the same purpose voids the older ones, and redeeming is
 * one compare-and-set (`UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING`), so two
 * concurrent redemptions cannot both succeed.
 *
 * @example
 * import { createTokenStatements, redeemToken } from "./index";
 * const { token, statements } = await createTokenStatements(db, { userId, email, purpose: "reset_password", ttlMs });
 * await db.batch(statements);
 * const pending = await findToken(db, token, "reset_password"); // peek, nothing changes
 * const redeemed = await redeemToken(db, token, "reset_password"); // { userId, email } | null
 */
import { and, eq, exists, gt, isNull, lt, ne, or } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { randomToken, sha256 } from "../crypto";
import { insertForUser } from "../db/insert-where";
import { oneTimeTokens } from "../db/schema";

export type TokenPurpose = "verify_email" | "reset_password" | "change_email" | "delete_account";

/** The brand of the mail that carried a token, already checked; null or absent: the service's own. */
export interface TokenBrand {
  platformName?: string | null;
  logoUrl?: string | null;
  /** Where the success state of the page links back to: the app the mail was sent for. */
  returnUrl?: string | null;
}

/**
 * The statements that void the user's older tokens of this purpose and store a new one, for the
 * caller's batch. With `onlyIf`, both take effect only when that condition holds when the batch runs
 * (a guard on a change made earlier in the same batch), so a request whose change was refused
 * leaves the tokens as they were. The new token lands only while the user exists (a request racing
 * the account's deletion stores nothing): a caller about to mail it checks the insert's
 * `meta.changes` (the second statement's result).
 */
export async function createTokenStatements(
  db: DrizzleD1Database,
  input: { userId: string; email: string; purpose: TokenPurpose; ttlMs: number; onlyIf?: SQL; brand?: TokenBrand },
) {
  const token = randomToken();
  const now = Date.now();
  const tokenHash = await sha256(token);
  const voidOlder = db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.userId, input.userId), eq(oneTimeTokens.purpose, input.purpose), isNull(oneTimeTokens.usedAt), input.onlyIf));
  const row = {
    tokenHash,
    userId: input.userId,
    purpose: input.purpose,
    email: input.email,
    createdAt: now,
    expiresAt: now + input.ttlMs,
    platformName: input.brand?.platformName ?? null,
    logoUrl: input.brand?.logoUrl ?? null,
    returnUrl: input.brand?.returnUrl ?? null,
  };
  const insert = insertForUser(db, oneTimeTokens, row, input.onlyIf);
  return { token, statements: [voidOlder, insert] as const };
}

/** 256 bits in base64url are 43 characters; anything far from that is not ours and costs no query. */
const plausible = (token: string) => token.length >= 40 && token.length <= 64;

/**
 * The token is unused, unexpired and for this purpose. A change that must happen together with
 * spending the token puts `exists(…where(live(…)))` in its WHERE and runs in the same batch before
 * `spendStatement`: both happen or neither does, and a concurrent batch sees the token spent.
 */
export const live = (tokenHash: string, purpose: TokenPurpose, now: number) =>
  and(
    eq(oneTimeTokens.tokenHash, tokenHash),
    eq(oneTimeTokens.purpose, purpose),
    isNull(oneTimeTokens.usedAt),
    gt(oneTimeTokens.expiresAt, now),
  );

/**
 * Whom a live token is for, without using it up: lets a caller refuse a request (a weak new
 * password, say) before the token is spent, and only to someone who holds a valid token.
 */
export async function findToken(
  db: DrizzleD1Database,
  token: string,
  purpose: TokenPurpose,
): Promise<{ userId: string; email: string } | null> {
  if (!plausible(token)) return null;
  const row = await db
    .select({ userId: oneTimeTokens.userId, email: oneTimeTokens.email })
    .from(oneTimeTokens)
    .where(live(await sha256(token), purpose, Date.now()))
    .get();
  return row ?? null;
}

/**
 * The brand stored with a live token (the page its mail links to shows it), without using the token
 * up; null for an unknown, used or expired token. A GET of the page reads it, and changes nothing.
 */
export async function findBrand(db: DrizzleD1Database, token: string, purpose: TokenPurpose): Promise<TokenBrand | null> {
  if (!plausible(token)) return null;
  const row = await db
    .select({ platformName: oneTimeTokens.platformName, logoUrl: oneTimeTokens.logoUrl, returnUrl: oneTimeTokens.returnUrl })
    .from(oneTimeTokens)
    .where(live(await sha256(token), purpose, Date.now()))
    .get();
  return row ?? null;
}

/** Marks a live token used, returning whom it was for (no row when unknown, used or expired). */
export function spendStatement(db: DrizzleD1Database, tokenHash: string, purpose: TokenPurpose, now: number) {
  return db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(live(tokenHash, purpose, now))
    .returning({ userId: oneTimeTokens.userId, email: oneTimeTokens.email });
}

/** Marks the token used and returns whom it was for, or null if unknown, used or expired. */
export async function redeemToken(
  db: DrizzleD1Database,
  token: string,
  purpose: TokenPurpose,
): Promise<{ userId: string; email: string } | null> {
  if (!plausible(token)) return null;
  const rows = await spendStatement(db, await sha256(token), purpose, Date.now());
  return rows[0] ?? null;
}

/** Deletes tokens that expired, or were used, before `before` (ms): the daily clean-up's part. */
export function purgeTokensStatement(db: DrizzleD1Database, before: number) {
  return db.delete(oneTimeTokens).where(or(lt(oneTimeTokens.expiresAt, before), lt(oneTimeTokens.usedAt, before)));
}

/**
 * A guard for a change that must happen only while the token is live and `userId`'s: a typed
 * `EXISTS (…)` for the WHERE of a statement in the same batch as `spendStatement`.
 */
export function tokenLiveFor(db: DrizzleD1Database, tokenHash: string, purpose: TokenPurpose, userId: string, now: number): SQL {
  return exists(
    db
      .select({ tokenHash: oneTimeTokens.tokenHash })
      .from(oneTimeTokens)
      .where(and(live(tokenHash, purpose, now), eq(oneTimeTokens.userId, userId))),
  );
}

/**
 * Voids every unused token of `userId`, of every purpose, but `keep` (a token hash: the one the
 * running proof spends itself), only while `onlyIf` holds when the batch runs: the address just
 * proven by its owner (src/accounts/address-proven.ts) leaves no link of a claimant's working.
 */
export function voidTokensStatement(db: DrizzleD1Database, userId: string, now: number, onlyIf: SQL, keep?: string) {
  return db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.userId, userId), isNull(oneTimeTokens.usedAt), keep === undefined ? undefined : ne(oneTimeTokens.tokenHash, keep), onlyIf));
}
