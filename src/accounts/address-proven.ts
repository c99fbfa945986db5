/**
 * "The address was just proven by its owner": the one rule every proof of an email address follows
 * (SECURITY.md, "Account pre-hijacking"). Anyone can claim an address without proving it (register,
 * or upgrade a guest with it) and attach things to that account: a passkey, a linked identity, a
 * session, a pending change of address, a mailed link. When the mailbox's owner proves the address
 * for the first time, the account becomes theirs, so everything attached while the address was an
 * unproven claim goes, except what the proof itself made or vouches for (`keep`):
 *
 * | proof | keeps |
 * |---|---|
 * | an email code (src/email-codes) | nothing: the session it starts is made after this batch |
 * | a reset link (src/recovery) | the new password it sets, and its own token (spent in the batch) |
 * | a verification link (src/accounts) | the password the account was registered (or upgraded) with, and its second factor: confirming that registration is what the link is for |
 * | a provider's verified email (src/identities, guest upgrades) | the identity that proved it |
 * | confirm-email-change (src/accounts/email-change.ts) | its own token, the password and the second factor |
 *
 * Everything else of the user goes in the proof's own D1 batch: every live session (each with its
 * `session_revoked` event), passkeys and pending WebAuthn challenges, linked identities, one-time
 * tokens of every purpose (verification, reset, change of address, deletion), the address's pending
 * email code, the password unless kept, and the second factor unless kept (its TOTP factors,
 * recovery codes, pending `mfaToken`s and `mfa_enabled`: a claimant's factor would otherwise stand
 * between the mailbox's owner and the account, API.md §15). Every statement is guarded by "the account holds this
 * address and it is not verified" (and the proof's own `onlyIf`), read when the batch runs, so
 * an account whose address was already verified changes nothing: its owner proving the address
 * again keeps their passkeys. The statements must come before the proof's statement that marks the
 * address verified, which ends the guard.
 *
 * @example
 * const proof = { userId, emailNormalized, now, client: deps.client, keep: { password: true } };
 * await db.batch([...addressProvenStatements(db, proof), markVerified, event]);
 */
import { and, eq, exists, isNull } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { dropCodeStatement } from "../email-codes/statements";
import { dropIdentitiesStatement } from "../identities/statements";
import { voidTokensStatement } from "../one-time-tokens";
import { endChallengesStatement, removeFactorsStatements } from "../mfa/statements";
import { dropPasskeysStatements } from "../passkeys/statements";
import { revokeLiveSessionsStatements } from "../sessions/statements";
import type { ClientInfo } from "../types";
import { users } from "./schema";

/** The session revocation reason an owner's proof records. */
export const ADDRESS_PROVEN_REASON = "address_proven";

/** One proof of an address, as `addressProvenStatements` takes it. */
export interface AddressProof {
  userId: string;
  /** The proven address, normalised as `users.email_normalized` (src/accounts/users.ts). */
  emailNormalized: string;
  /** Milliseconds since the epoch: the revocations' and voided tokens' time. */
  now: number;
  /** Recorded with the `session_revoked` events. */
  client: ClientInfo | null;
  /** What the proof made or vouches for, which stays (see the table above). */
  keep?: {
    password?: boolean;
    /** An identity id: the one a provider's verified email proved the address with. */
    identityId?: string;
    /** A one-time token's hash: the one the proof spends in the same batch. */
    tokenHash?: string;
    /** The second factor (TOTP, recovery codes, pending mfaTokens), for proofs that confirm the account as it is. */
    secondFactor?: boolean;
  };
  /** A further condition of the proof (its token still live, the account enabled), read when the batch runs. */
  onlyIf?: SQL | undefined;
}

/** True in SQL while the account holds `emailNormalized` and has not verified it: the proof hands it over. */
export function changesHands(db: DrizzleD1Database, proof: Pick<AddressProof, "userId" | "emailNormalized" | "onlyIf">): SQL {
  const unproven = exists(
    db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.id, proof.userId), eq(users.emailNormalized, proof.emailNormalized), isNull(users.emailVerifiedAt))),
  );
  return proof.onlyIf ? and(unproven, proof.onlyIf)! : unproven;
}

/**
 * The statements of an owner's proof, for the proof's own D1 batch, before the statement that marks
 * the address verified (see the module comment). None of them touches `email_verified_at` or
 * `email_normalized`, so each reads the same guard.
 */
export function addressProvenStatements(db: DrizzleD1Database, proof: AddressProof): [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]] {
  const guard = changesHands(db, proof);
  const keep = proof.keep ?? {};
  return [
    ...revokeLiveSessionsStatements(db, { userId: proof.userId, reason: ADDRESS_PROVEN_REASON, now: proof.now, client: proof.client, onlyIf: guard }),
    ...dropPasskeysStatements(db, proof.userId, guard),
    dropIdentitiesStatement(db, proof.userId, guard, keep.identityId),
    voidTokensStatement(db, proof.userId, proof.now, guard, keep.tokenHash),
    dropCodeStatement(db, proof.emailNormalized, guard),
    ...(keep.password ? [] : [db.update(users).set({ passwordHash: null }).where(and(eq(users.id, proof.userId), guard))]),
    ...(keep.secondFactor
      ? []
      : [
          ...removeFactorsStatements(db, proof.userId, guard),
          endChallengesStatement(db, proof.userId, guard),
          db.update(users).set({ mfaEnabled: false }).where(and(eq(users.id, proof.userId), guard)),
        ]),
  ];
}
