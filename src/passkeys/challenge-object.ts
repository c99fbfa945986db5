/**
 * One Durable Object per passkey sign-in challenge (API.md §12: "a challenge lives 5 minutes and is
 * spent by its first use, right or wrong"; issue 27, slice 6): the only place a sign-in challenge is
 * stored, and only once it is used. The challenge itself is not stored anywhere: it is derived from
 * its id (src/passkeys/login-challenge.ts), so the options cost no write at all; this object records
 * that the id was used, so that a second use finds it spent.
 *
 * The object is named by the challenge id (`idFromName`) and created by the first `spend`, near the
 * Worker that calls it (the user's, for a sign-in). `spend` is synchronous storage work with no await
 * before its answer is decided, so of two concurrent uses exactly one is first. Its alarm, set for
 * `forgetAt`, deletes everything once the challenge is past its lifetime (and a margin): by then
 * the Worker refuses the id by its age alone, so the mark is no longer needed.
 *
 * Storage: one key, `spent` → `forgetAt` (ms), in the object's synchronous KV storage. Nothing else:
 * no user, no credential, no client.
 *
 * @example
 * const stub = env.LOGIN_CHALLENGES.get(env.LOGIN_CHALLENGES.idFromName(challengeId));
 * if (!(await stub.spend(Date.now() + 10 * 60_000))) throw refused(); // used before
 */
import { DurableObject } from "cloudflare:workers";

export class LoginChallengeObject extends DurableObject<Env> {
  /**
   * Marks the challenge used. True the first time; false ever after (until the alarm at `forgetAt`,
   * ms since the epoch, forgets it: callers must pass a time after which the id is refused anyway).
   */
  async spend(forgetAt: number): Promise<boolean> {
    const kv = this.ctx.storage.kv;
    if (kv.get("spent") !== undefined) return false;
    kv.put("spent", forgetAt);
    await this.ctx.storage.setAlarm(forgetAt);
    return true;
  }

  /** The challenge is past its lifetime: nothing here is needed any more. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
