/**
 * The revocation matrix, part 4: sessions that began as a guest's (API.md §9, §11, §16): a guest
 * deleting itself, a guest signing into an existing account (merged: its sessions end), and the
 * owner of an address proving it with an email code, which ends the session a claimant got by
 * upgrading a guest with that unproven address (SECURITY.md, "Account pre-hijacking"). `runWay`
 * (./matrix.ts) shows that the very next `me`, refresh, `AuthRpc.verifySession` and sessions list
 * refuse or omit what ended.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, guest, json, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import { STATES, fromMail, held, inState, runWay } from "./matrix";
import type { Ctx, State, Way } from "./matrix";

/** A guest's only session, brought into `state`. */
async function guestSession(state: State): Promise<Ctx> {
  return { state, a: await inState(held(await guest()), state), more: [] };
}

/**
 * A claimant's session on an address it never proved: a guest upgraded with it (the one door that
 * gives an unproven address a session while verification is required), brought into `state`.
 */
async function claimedAddress(state: State): Promise<Ctx> {
  const email = uniqueEmail("rv-claim");
  const username = uniqueUsername("rvclaim");
  const g = await guest();
  const upgraded = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username, password: PASSWORD } });
  expect(upgraded.status).toBe(201);
  const a = await inState(held(await json(upgraded)), state);
  return { account: { email, username, password: PASSWORD, userId: g.user.id }, state, a, more: [] };
}

const ways: Way[] = [
  {
    name: "a guest deletes itself (DELETE /v1/auth/me)",
    setup: guestSession,
    end: async ({ a }) => {
      expect((await call("/v1/auth/me", { method: "DELETE", token: a.accessToken })).status).toBe(204);
      return { ended: [a] };
    },
  },
  {
    name: "a guest signs into an existing account (POST /v1/auth/login with its Bearer token): merged, its session ends",
    setup: guestSession,
    end: async ({ a }) => {
      const account = await verifiedAccount("rv-merge");
      const response = await call("/v1/auth/login", { token: a.accessToken, body: { email: account.email, password: account.password } });
      expect(response.status).toBe(200);
      const signedIn = held(await json(response));
      expect(signedIn.userId).toBe(account.userId);
      return { ended: [a], survivor: signedIn };
    },
  },
  {
    name: "the address's owner proves it with an email code: the claimant's session ends",
    setup: claimedAddress,
    end: async ({ account, a }) => {
      const email = account!.email;
      expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
      const code = await fromMail(email, /sign-in code is (\d{6})/);
      const verified = await call("/v1/auth/email-code/verify", { body: { email, code } });
      expect(verified.status).toBe(200);
      const owner = held(await json(verified));
      expect(owner.userId).toBe(a.userId);
      return { ended: [a], survivor: owner };
    },
  },
];

describe.each(STATES)("a session that began as a guest's, %s", (state) => {
  for (const way of ways) it(way.name, () => runWay(way, state));
});
