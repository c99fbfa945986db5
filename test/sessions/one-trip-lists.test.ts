/**
 * `GET /v1/auth/sessions`, document 001's `GET /auth/:userId/sessions` and `GET /v1/auth/activity`
 * check the session's liveness in the same D1 round trip as their list (src/sessions/index.ts
 * `listSessions`, src/activity/list.ts): a validly signed access token whose session has ended, or
 * whose account is disabled, must still get 401 from each, and a live one its list.
 */
import { describe, expect, it } from "vitest";
import { call, env, expectError, login, serviceDeps, verifiedAccount } from "../helpers";
import { changeUser } from "../../src/accounts/change-user";

const lists = (userId: string) => ["/v1/auth/sessions", `/auth/${userId}/sessions`, "/v1/auth/activity"];

describe("lists that check liveness in their own read", () => {
  it("answer a live session, and 401 once that session is signed out, while another session still gets its list", async () => {
    const account = await verifiedAccount("one-trip");
    const ended = await login(account);
    const live = await login(account);
    for (const path of lists(account.userId)) expect((await call(path, { token: ended.accessToken })).status).toBe(200);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: ended.refreshToken } })).status).toBe(204);
    for (const path of lists(account.userId)) {
      await expectError(await call(path, { token: ended.accessToken }), 401, "invalid_token");
      expect((await call(path, { token: live.accessToken })).status).toBe(200);
    }
  });

  it("answer 401 to every session of a disabled account, and 403 to another user's list only for a live caller", async () => {
    const account = await verifiedAccount("one-trip-disabled");
    const other = await verifiedAccount("one-trip-other");
    const pair = await login(account);
    await expectError(await call(`/auth/${other.userId}/sessions`, { token: pair.accessToken }), 403, "forbidden");
    // Disabled in D1 with its sessions left live (as if the revocation that follows a disable had
    // failed): the lists' own read must still refuse them, as the liveness read does. The write goes
    // through changeUser, as every writer of `users` does (issue 27): it tells the user's object,
    // whose sessions list is otherwise answered from its store.
    await changeUser(serviceDeps(), account.userId, () => env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), account.userId).run());
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(account.userId).first<number>("n")).toBe(1);
    for (const path of lists(account.userId)) await expectError(await call(path, { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await call(`/auth/${other.userId}/sessions`, { token: pair.accessToken }), 401, "invalid_token");
  });
});
