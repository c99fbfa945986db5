/**
 * The revocation matrix, part 3: the ways an account's sessions end from outside them (API.md §9,
 * §10, §11): an admin's disable and revoke, deletion (by the user, by an admin, by the mailed
 * link), and the address's owner proving it with an email code, which ends what a claimant of the
 * unproven address signed in with (SECURITY.md, "Account pre-hijacking"). `runWay` (./matrix.ts)
 * shows that the very next `me`, refresh, `AuthRpc.verifySession` and sessions list refuse or omit
 * what ended.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, guest, json, uniqueEmail, uniqueUsername } from "../helpers";
import { STATES, fromMail, held, inState, pairOf, runWay } from "./matrix";
import type { Ctx, State, Way } from "./matrix";

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
    name: "account disabled by an admin (POST /v1/admin/users/:userId/disable)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const response = await adminCall(`/users/${ctx.account.userId}/disable`, { method: "POST" });
      expect(response.status).toBe(200);
      expect((await json(response)).user.disabled).toBe(true);
      return { ended: [a, b] };
    },
  },
  {
    name: "sessions revoked by an admin (POST /v1/admin/users/:userId/revoke-sessions)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await adminCall(`/users/${ctx.account.userId}/revoke-sessions`, { method: "POST" })).status).toBe(204);
      return { ended: [a, b] };
    },
  },
  {
    name: "account deleted by its user (DELETE /v1/auth/me)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await call("/v1/auth/me", { method: "DELETE", token: b.accessToken, body: { password: PASSWORD } })).status).toBe(204);
      return { ended: [a, b] };
    },
  },
  {
    name: "account deleted by an admin (DELETE /v1/admin/users/:userId)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await adminCall(`/users/${ctx.account.userId}`, { method: "DELETE" })).status).toBe(204);
      return { ended: [a, b] };
    },
  },
  {
    name: "account deleted by the mailed link (POST /v1/auth/confirm-deletion)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await call("/v1/auth/request-deletion", { body: { email: ctx.account.email } })).status).toBe(200);
      const token = await fromMail(ctx.account.email, /\/delete-account\?\S*token=([A-Za-z0-9_-]+)/);
      expect((await call("/v1/auth/confirm-deletion", { body: { token } })).status).toBe(200);
      return { ended: [a, b] };
    },
  },
  {
    name: "the address's owner proves it with an email code: the claimant's session ends",
    setup: claimedAddress,
    end: async ({ account, a }) => {
      expect((await call("/v1/auth/email-code", { body: { email: account.email } })).status).toBe(200);
      const code = await fromMail(account.email, /sign-in code is (\d{6})/);
      const verified = await call("/v1/auth/email-code/verify", { body: { email: account.email, code } });
      expect(verified.status).toBe(200);
      const owner = held(await json(verified));
      expect(owner.userId).toBe(a.userId);
      return { ended: [a], survivor: owner };
    },
  },
];

describe.each(STATES)("a session ended from outside it, %s", (state) => {
  for (const way of ways) it(way.name, () => runWay(way, state));
});
