/**
 * The revocation matrix, part 3: the ways an account's sessions end from outside them (API.md §9,
 * §10): an admin's disable (and a disable undone: what it ended stays ended) and revoke, and
 * deletion by the user, by an admin and by the mailed link. `runWay` (./matrix.ts) shows that the
 * very next `me`, refresh, `AuthRpc.verifySession` and sessions list refuse or omit what ended.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, json } from "../helpers";
import { STATES, fromMail, pairOf, runWay } from "./matrix";
import type { Way } from "./matrix";

const ways: Way[] = [
  {
    name: "account disabled by an admin (POST /v1/admin/users/:userId/disable)",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      const response = await adminCall(`/users/${account.userId}/disable`, { method: "POST" });
      expect(response.status).toBe(200);
      expect((await json(response)).user.disabled).toBe(true);
      return { ended: [a, b] };
    },
  },
  {
    name: "account disabled, then enabled again: the ended sessions stay ended",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
      const enabled = await adminCall(`/users/${account.userId}/enable`, { method: "POST" });
      expect(enabled.status).toBe(200);
      expect((await json(enabled)).user.disabled).toBe(false);
      return { ended: [a, b] };
    },
  },
  {
    name: "sessions revoked by an admin (POST /v1/admin/users/:userId/revoke-sessions)",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      expect((await adminCall(`/users/${account.userId}/revoke-sessions`, { method: "POST" })).status).toBe(204);
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
      const { account, a, b } = pairOf(ctx);
      expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
      return { ended: [a, b] };
    },
  },
  {
    name: "account deleted by the mailed link (POST /v1/auth/confirm-deletion)",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
      const token = await fromMail(account.email, /\/delete-account\?\S*token=([A-Za-z0-9_-]+)/);
      expect((await call("/v1/auth/confirm-deletion", { body: { token } })).status).toBe(200);
      return { ended: [a, b] };
    },
  },
];

describe.each(STATES)("a session ended from outside it, %s", (state) => {
  for (const way of ways) it(way.name, () => runWay(way, state));
});
