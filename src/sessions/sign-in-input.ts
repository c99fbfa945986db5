/**
 * What a sign-in asks of `signIn` (src/sessions/issue.ts), the one funnel every sign-in method ends
 * in, and of its half in the user's object (src/sessions/start-in-object.ts).
 *
 * @example
 * const input: SignInInput = { userId, method: "password", passwordHash: user.passwordHash };
 */
import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SignInMethod } from "../activity";
import type { SecondFactorProof } from "../mfa/proof";
import type { AttemptHandle } from "../rate-limit/login-attempt";
import type { Role } from "../types";
import type { SpentProof } from "./spent-proofs";

export interface SignInInput {
  userId: string;
  /** Recorded with the `sign_in` activity event. */
  method: SignInMethod;
  /** The access token's role; "user" when left out. */
  role?: Role;
  /** For a password sign-in: the hash the password was checked against, which must still be the account's. */
  passwordHash?: string;
  /** Create the guest's user row in the same batch (a new guest: no guard, no earlier sessions). */
  createGuest?: { createdAt: number };
  /**
   * A further condition every statement of the batch requires, besides the account's (an existing
   * account only): e.g. the passkey's counter or the mailed code being still as checked, so of two
   * concurrent sign-ins with one of them only one starts a session.
   */
  onlyIf?: SQL;
  /**
   * More statements for the same batch, run after the others and unguarded: spending what `onlyIf` checked (the code, the passkey's counter).
   */
  alsoRun?: BatchItem<"sqlite">[];
  /**
   * A second factor already checked and spent in this batch (its `onlyIf`/`alsoRun` join the
   * batch's): the session is aal2, its `amr` the first method then this one. Made only by
   * src/mfa/verify.ts.
   */
  secondFactor?: SecondFactorProof;
  /**
   * What the sign-in carries for its completion when it must wait for a second factor (JSON-able;
   * kept on the `mfa_challenges` row, e.g. a guest to merge on completion).
   */
  pending?: Record<string, unknown>;
  /**
   * The id of a guest signing into this existing account (API.md §16: login with the guest's Bearer
   * token): in the same batch, while the sign-in's guard holds and the guest is still a guest, the
   * guest's rows go (its sessions, then the user, as a deletion does) and `user.merged` is written;
   * after it, the guest's object storage is erased. Ignored for a new guest. When the sign-in must
   * wait for a second factor, it travels on the pending sign-in and `mfa/verify` completes it.
   */
  mergeGuest?: string;
  /**
   * A password check's reservation in the account's gate (src/rate-limit/login-attempt.ts): the user's
   * object ends it with the session it starts, and sets `settled`; otherwise the caller ends it.
   */
  attempt?: AttemptHandle;
  /**
   * A single-use proof the sign-in spends (an email code, src/email-codes/known-code.ts) without a
   * D1 write of its own (issue 27, slice 6). Started in the user's object, the object records `key`
   * with the session and refuses one recorded before (src/sessions/spent-proofs.ts), and its outbox
   * runs `alsoRun` (the code row's delete). On the D1 path the proof is recorded in the object first
   * (`beginChange`: refused when recorded before), `onlyIf` joins the batch's guard and `alsoRun`
   * runs in it. Unlike `onlyIf`, it leaves the sign-in free to start in the object.
   */
  spend?: SpentProof & { onlyIf?: SQL; alsoRun?: BatchItem<"sqlite">[] };
}
