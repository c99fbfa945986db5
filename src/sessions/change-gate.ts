/**
 * The user object's side of a change the Worker writes in D1 (src/accounts/change-user.ts, and the
 * D1 path of src/sessions/issue.ts): `begin` before the D1 write, `end` after it. `begin` writes what
 * the object owes D1 first (so the change's write sees every session started here), records a
 * sign-in's single-use proof (src/sessions/spent-proofs.ts) and names the sessions held past their
 * own expiry; `end` takes a D1-path sign-in's session into the store (`hold`, src/sessions/hold.ts;
 * issue 27, slices 7 and 8) inside the object's serial queue, and arms the drain of the activity
 * rows the change may have staged (src/activity/drain.ts). Split from src/sessions/user-object.ts,
 * whose `beginChange`/`endChange` call it with `ProfileObject`'s own as `base`.
 *
 * @example
 * override beginChange(spend, newUser) { return this.#changes.begin(spend, () => super.beginChange(undefined, newUser)); }
 * override endChange(id, register) { return this.#changes.end(id, register, (i, r) => super.endChange(i, r)); }
 */
import type { ActivityDrain } from "../activity/drain";
import { holdSession, upgradedSince } from "./hold";
import type { HeldStore } from "./held-store";
import type { ChangeTicket, ProfileCache } from "./profile-cache";
import type { SessionRegistration } from "./profile-object";
import { alarmBy } from "./session-start";
import { isSpent, markSpent } from "./spent-proofs";
import type { SpentProof } from "./spent-proofs";
import type { Clock } from "./token-store";

/** What the gate works with: the object's store, change ledger, clock, storage, activity and queue. */
export interface ChangeGateParts {
  held: HeldStore;
  profiles: ProfileCache;
  clock: Clock;
  storage: DurableObjectStorage;
  activity: ActivityDrain;
  /** The object's serial queue (src/sessions/user-object.ts `#serial`). */
  serial: <T>(operation: () => Promise<T>) => Promise<T>;
  /** True while a sign-in started in the object still owes D1 its writes. */
  owes: () => boolean;
  /** Marks the user's D1 staging as holding activity rows and arms the alarm that drains them. */
  drainSoon: () => Promise<void>;
}

export class ChangeGate {
  constructor(private readonly parts: ChangeGateParts) {}

  /**
   * `ProfileObject.beginChange` (`base`), naming the sessions this object holds past their own
   * expiry, after what the object owes D1 is written. With `spend` (a sign-in on the D1 path spending
   * a single-use proof), the proof is recorded first, or the ticket says it was `spent` before.
   */
  begin(spend: SpentProof | undefined, base: () => Promise<ChangeTicket>): Promise<ChangeTicket> {
    const { held, clock } = this.parts;
    const ticket = async () => {
      const spent = spend ? this.#spend(spend) : undefined;
      return { ...(await base()), expired: held.existing?.expiredSessionIds(clock.now()) ?? [], ...(spent === undefined ? {} : { spent }) };
    };
    return this.parts.owes() ? this.parts.serial(ticket) : ticket();
  }

  /**
   * `ProfileObject.endChange` (`base`); with `register.hold` (a sign-in the Worker wrote in D1: a
   * full account's, or a guest's since slice 8), the store holds the new session from now on, in the
   * serial queue so no operation that read D1 before the batch can forget it: its refresh, sign-out
   * and list need no adoption, and its first refresh no D1 trip when nothing else changed meanwhile.
   * Rejects (the sign-in then ends the row and answers 503, src/sessions/issue.ts `unheld`) when the
   * change was not begun in this instance or the account was erased since, and for a guest's session
   * once the account was upgraded since its batch (`upgradedSince`).
   */
  async end(id: string, register: SessionRegistration | undefined, base: (id: string, register?: SessionRegistration) => void): Promise<void> {
    const { held, profiles, clock, activity, storage } = this.parts;
    // A change may have staged activity rows in its batch (a password change's event, ...): drained soon.
    if (!register?.hold) {
      base(id, register);
      return this.parts.drainSoon();
    }
    return this.parts.serial(async () => {
      // Only a change begun in this instance and not erased since: an account deleted meanwhile keeps
      // no storage (API.md §9), and after a restart the sign-in answers 503.
      const begunHere = profiles.begunHere(id);
      const upgraded = upgradedSince(held.existing, register);
      base(id, begunHere && !upgraded ? register : undefined);
      if (!begunHere) throw new Error("session not held: its change was not begun in this instance, or the account was erased since");
      if (upgraded) throw new Error("session not held: a guest's sign-in, and the account was upgraded since its batch");
      holdSession({ store: held.store, profiles, clock, activity }, register);
      // The sign-in's event is kept here (slice 8); D1 holds a staged row only when the batch wrote one besides.
      if (register.hold!.drain) await this.parts.drainSoon();
      else await alarmBy(storage, activity.expire());
    });
  }

  /** Records the proof as spent; true when it already was (one synchronous step: no other call between). */
  #spend(proof: SpentProof): boolean {
    void this.parts.held.store; // opened (and migrated) first: the record lives with the token store
    const { sql } = this.parts.storage;
    if (isSpent(sql, proof.key, Date.now())) return true;
    markSpent(sql, proof, Date.now());
    return false;
  }
}
