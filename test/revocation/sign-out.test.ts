/**
 * The revocation matrix, part 1: the ways a user ends sessions themselves (API.md §1, §3, §4):
 * signing out at both documents' doors, revoking a refresh token, deleting a session by id at both
 * doors, and revoke-all. Each row ends a session (or all) over HTTP; `runWay` (./matrix.ts) shows
 * that the very next `me`, refresh, `AuthRpc.verifySession` and sessions list refuse or omit it.
 */
import { describe, expect, it } from "vitest";
import { call, json } from "../helpers";
import { STATES, pairOf, runWay } from "./matrix";
import type { Way } from "./matrix";

const ways: Way[] = [
  {
    name: "sign-out, document 000 (POST /auth/signout with the refresh token)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const response = await call("/auth/signout", { token: a.accessToken, body: { refresh_token: a.refreshToken } });
      expect(response.status).toBe(204);
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "sign-out, document 001 (POST /auth/signout: the current session)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const response = await call("/auth/signout", { token: a.accessToken, body: {} });
      expect(response.status).toBe(200);
      expect(await json(response)).toMatchObject({ statusCode: 200 });
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "sign-out of another session, document 001 (POST /auth/signout with sessionIds)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const response = await call("/auth/signout", { token: b.accessToken, body: { sessionIds: [a.sessionId] } });
      expect(response.status).toBe(200);
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "revoke (POST /v1/auth/revoke with the refresh token)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } })).status).toBe(204);
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "revoke by id (DELETE /v1/auth/sessions/:sessionId)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await call(`/v1/auth/sessions/${a.sessionId}`, { method: "DELETE", token: b.accessToken })).status).toBe(204);
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "revoke by id, document 001 (DELETE /auth/:sessionId/sessions)",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      const response = await call(`/auth/${a.sessionId}/sessions`, { method: "DELETE", token: b.accessToken });
      expect(response.status).toBe(200);
      expect(await json(response)).toMatchObject({ statusCode: 200 });
      return { ended: [a], survivor: b };
    },
  },
  {
    name: "revoke-all (POST /v1/auth/revoke-all): every session, the caller's too",
    end: async (ctx) => {
      const { a, b } = pairOf(ctx);
      expect((await call("/v1/auth/revoke-all", { method: "POST", token: b.accessToken })).status).toBe(204);
      return { ended: [a, b] };
    },
  },
];

describe.each(STATES)("a session the user ends, %s", (state) => {
  for (const way of ways) it(way.name, () => runWay(way, state));
});
