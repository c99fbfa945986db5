/**
 * What the per-user object (src/sessions/user-object.ts) answers and works with besides its class:
 * a rotation's or reissue's outcome over RPC (`PairOutcome`), what a rotation's D1 write hands back
 * (`Touched`), and a pair opened from the seal kept for the reuse window (`openedPair`).
 *
 * @example
 * import { openedPair } from "./pair-outcome";
 * import type { PairOutcome } from "./pair-outcome";
 * const outcome: PairOutcome = { ok: true, pair: openedPair(await unseal(token, sealed)) };
 */
import type { UserRow } from "../db/schema";
import { publicUser } from "../accounts/users";
import type { Assurance } from "../tokens";
import type { IssuedPair, PublicUser } from "../types";

/**
 * A pair opened from its seal. Pairs sealed before `user` was made public carry the whole user row:
 * only its public fields are kept, so nothing more than a new pair would show leaves the object.
 */
export function openedPair(json: string): IssuedPair {
  const pair = JSON.parse(json) as Omit<IssuedPair, "user"> & { user: PublicUser | UserRow };
  const user = "emailNormalized" in pair.user ? publicUser(pair.user) : pair.user;
  return { ...pair, user };
}

/** What a rotation needs of the account and session: the public fields, and the session's assurance for its token. */
export interface Touched {
  user: PublicUser;
  assurance: Assurance;
}

/**
 * A refresh's or a reissue's answer: the new pair, or why there is none (`invalid`: unknown,
 * superseded or ended; `expired`: past its lifetime; `reused`: a rotated token after the reuse
 * window, which ended the session).
 */
export type PairOutcome = { ok: true; pair: IssuedPair } | { ok: false; reason: "invalid" | "expired" | "reused" };
