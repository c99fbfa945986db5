/**
 * The revocation matrix, part 2: the rules that end sessions for the user (API.md §1, §3, §4): the
 * 6th-session rule, refresh-token reuse detection, a password change with `revokeOtherSessions`,
 * and a password reset at both doors. `runWay` (./matrix.ts) shows that the very next `me`,
 * refresh, `AuthRpc.verifySession` and sessions list refuse or omit what ended.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, json, login, refreshWith } from "../helpers";
import { STATES, fromMail, held, pairOf, rotate, runWay, sessionsOf } from "./matrix";
import type { Way } from "./matrix";

const NEW_PASSWORD = "copper-meadow-signal-58";

/** Asks for a reset link (API.md §7) and returns its token. */
async function resetToken(email: string): Promise<string> {
  expect((await call("/v1/auth/forgot-password", { body: { email } })).status).toBe(200);
  return fromMail(email, /\/reset-password\?\S*token=([A-Za-z0-9_-]+)/);
}

const ways: Way[] = [
  {
    name: "the 6th-session rule: a 6th sign-in ends the oldest (seed 000)",
    // MAX_SESSIONS_PER_USER = 5: a (the oldest), b and three more are live before the 6th.
    setup: (state) => sessionsOf(state, 5),
    end: async (ctx) => {
      const { account, a } = pairOf(ctx);
      const sixth = held(await login(account));
      return { ended: [a], survivor: sixth };
    },
  },
  {
    name: "reuse detection: a rotated token presented again ends the whole session",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      // a's token is rotated twice, so its successor is no longer current: presenting it is reuse.
      const later = await rotate(await rotate(a));
      await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
      return { ended: [later], survivor: b };
    },
  },
  {
    name: "password change with revokeOtherSessions (POST /v1/auth/change-password)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const body = { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, revokeOtherSessions: true };
      expect((await call("/v1/auth/change-password", { token: b.accessToken, body })).status).toBe(200);
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "password reset (POST /v1/auth/reset-password): every session",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      const token = await resetToken(account.email);
      const response = await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: NEW_PASSWORD } });
      expect(response.status).toBe(200);
      return { ended: [a, b] };
    },
  },
  {
    name: "password reset, document 001 (POST /auth/password-reset/:email): every session",
    end: async (ctx) => {
      const { account, a, b } = pairOf(ctx);
      const token = await resetToken(account.email);
      const response = await call(`/auth/password-reset/${encodeURIComponent(account.email)}`, { body: { token, password: NEW_PASSWORD } });
      expect(response.status).toBe(200);
      expect((await json(response)).statusCode).toBe(200);
      return { ended: [a, b] };
    },
  },
];

describe.each(STATES)("a session a rule ends, %s", (state) => {
  for (const way of ways) it(way.name, () => runWay(way, state));
});
