/**
 * The proof of a second factor that a sign-in carries into its batch (src/sessions/issue.ts): the
 * factor used, the condition under which it is still unspent (the `mfaToken`'s challenge, the TOTP
 * step, the recovery code), and the statements that spend it. Only src/mfa/verify.ts makes one,
 * after checking the code; the batch then spends it and starts the session together, so a proof is
 * used once.
 *
 * @example
 * const proof: SecondFactorProof = { method: "totp", onlyIf, alsoRun: [spendStep, spendChallenge] };
 * await signIn(deps, { userId, method: "password", secondFactor: proof });
 */
import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";

/** The kinds of second factor an account can answer with (API.md §15 `factors`). */
export type SecondFactorMethod = "totp" | "recovery_code";

export interface SecondFactorProof {
  method: SecondFactorMethod;
  /** True while the proof is unspent; every statement of the sign-in's batch requires it. */
  onlyIf: SQL;
  /** Spends the proof, in the same batch. */
  alsoRun: BatchItem<"sqlite">[];
}
