/**
 * WebAuthn registration challenges (API.md §12): 32 random bytes, kept 5 minutes in
 * `webauthn_challenges`, and spent by their first use, right or wrong: `spendChallenge` deletes the
 * row and returns it in one statement (`DELETE … RETURNING`), so of two requests with one challenge
 * only one ever sees it. Sign-in challenges have no row since issue 27's slice 6: they are derived
 * from their id and spent in their own Durable Object (src/passkeys/login-challenge.ts); rows of
 * kind `authentication` left by the version before expire and go with the daily clean-up.
 *
 * A registration challenge also carries the WebAuthn user handle its options named, so that the
 * verification stores the very handle the authenticator was given (`<challenge>.<userHandle>`).
 *
 * @example
 * const { id, challenge } = await createChallenge(db, { kind: "registration", userId, userHandle, onlyIf });
 * const row = await spendChallenge(db, id, "registration", userId); // null when unknown, spent or expired
 * const verified = await verifyCeremony(config.webauthn, row, (expected) => verifyRegistrationResponse({ response, ...expected }));
 */
import { and, eq, lt } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { randomToken } from "../crypto";
import { insertForUser } from "../db/insert-where";
import { webauthnChallenges } from "./schema";

/** How long a challenge may be answered (ms). */
export const CHALLENGE_TTL_MS = 5 * 60_000;

export type ChallengeKind = "registration" | "authentication";

export interface Challenge {
  id: string;
  /** base64url, as the options carry it. */
  challenge: string;
  userId: string | null;
  /** Registration only: the user handle (base64url) the options named. */
  userHandle: string | null;
}

/**
 * Stores a fresh challenge; `userHandle` rides along for a registration. A user's challenge is
 * stored only while that user exists and `onlyIf` holds (the caller's session is live): null when
 * it was not (a request that raced the account's deletion), so the caller answers 401.
 */
export async function createChallenge(
  db: DrizzleD1Database,
  input: { kind: ChallengeKind; userId: string | null; userHandle?: string; onlyIf?: SQL },
): Promise<Challenge | null> {
  const now = Date.now();
  const challenge = randomToken(32);
  const id = crypto.randomUUID();
  const stored = input.userHandle ? `${challenge}.${input.userHandle}` : challenge;
  const row = { id, kind: input.kind, userId: input.userId, challenge: stored, createdAt: now, expiresAt: now + CHALLENGE_TTL_MS };
  const inserted = await insertForUser(db, webauthnChallenges, row, input.onlyIf);
  if (inserted.meta.changes !== 1) return null;
  return { id, challenge, userId: input.userId, userHandle: input.userHandle ?? null };
}

/**
 * Deletes the challenge and returns it, or null when it is unknown, of another kind, already spent
 * or expired. With `userId`, only that user's challenge is spent.
 */
export async function spendChallenge(db: DrizzleD1Database, id: string, kind: ChallengeKind, userId?: string): Promise<Challenge | null> {
  return spentChallenge(await spendChallengeStatement(db, id, kind, userId));
}

/** `spendChallenge` as a statement, for a D1 batch; `spentChallenge` reads its result. */
export function spendChallengeStatement(db: DrizzleD1Database, id: string, kind: ChallengeKind, userId?: string) {
  return db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.id, id), eq(webauthnChallenges.kind, kind), userId === undefined ? undefined : eq(webauthnChallenges.userId, userId)))
    .returning();
}

/**
 * The challenge a spend statement deleted, or null when none was, or it had expired by `now` (ms
 * since the epoch; the current time unless given, e.g. the time a batch's other statements used).
 */
export function spentChallenge(rows: (typeof webauthnChallenges.$inferSelect)[], now = Date.now()): Challenge | null {
  const [row] = rows;
  if (!row || row.expiresAt <= now) return null;
  const [challenge, userHandle] = row.challenge.split(".");
  return { id: row.id, challenge: challenge!, userId: row.userId, userHandle: userHandle ?? null };
}

/** What every ceremony's verification expects, in @simplewebauthn/server's option names. */
export interface CeremonyExpectations {
  expectedChallenge: string;
  expectedOrigin: string[];
  expectedRPID: string;
  requireUserVerification: boolean;
}

/**
 * Runs one of @simplewebauthn/server's verifications with what every ceremony expects: the spent
 * challenge, the configured origins and RP ID, and a verified user (UV flag). Null when the library
 * throws (most refusals); its answer otherwise, whose `verified` the caller still checks.
 */
export async function verifyCeremony<T extends { verified: boolean }>(
  webauthn: { origins: string[]; rpId: string },
  challenge: Challenge,
  verify: (expected: CeremonyExpectations) => Promise<T>,
): Promise<T | null> {
  try {
    return await verify({ expectedChallenge: challenge.challenge, expectedOrigin: webauthn.origins, expectedRPID: webauthn.rpId, requireUserVerification: true });
  } catch {
    return null;
  }
}

/** Deletes challenges that expired before `before` (ms): the daily clean-up's part (src/maintenance). */
export function purgeChallengesStatement(db: DrizzleD1Database, before: number) {
  return db.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, before));
}
