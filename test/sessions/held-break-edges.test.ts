/**
 * Adversarial review of issue 27's slice 7, continued (./held-break.test.ts): the `unheld` end of a
 * merge whose account object fails (the guest's side), a held session the object holds expired while
 * D1's row is still live within the slack (nothing may bring it back, and it takes no slot under the
 * 6th-session rule), and a password change or another session's sign-out or list landing between a
 * held sign-in's D1 batch and its hold. Over HTTP in workerd with the real D1 and objects; the only
 * stand-ins are `USER_SESSIONS` proxies around the account's `endChange(…, hold)`.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/held-break-edges.test.ts
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, adminCall, advanceUserClock, call, claims, expectError, guest, inUserSessions, json, login, objectStorage, refreshWith, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { fetchWith, gatedHold, unheldEnv } from "../helpers/edge";
import { enableMfa } from "../mfa/helpers";

// A TOTP step's code is accepted once: the step-up test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });

const mergeLogin = async (email: string) => call("/v1/auth/login", { token: (await guest()).accessToken, body: { email, password: PASSWORD } });
const revokedReason = async (sessionId: string) =>
  (await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(sessionId).first<{ revoked_reason: string | null }>())?.revoked_reason;
const listedIds = async (accessToken: string) => (await json(await call("/v1/auth/sessions", { token: accessToken }))).sessions.map((s: Json) => s.id);

describe("a merge whose account object cannot take the session", () => {
  it("answers 503, ends the account's row (unheld), and the guest it merged is gone with its object's storage", async () => {
    const account = await verifiedAccount("unheld-merge");
    const g = await guest();
    // The guest refreshed once: its object holds (adopted) its session, storage the merge must erase.
    const gPair = await json(await refreshWith(g.refreshToken));
    expect((await objectStorage(g.user.id)).rows).toBeGreaterThan(0);
    const failing = unheldEnv();
    const response = await fetchWith(failing, "/v1/auth/login", { token: gPair.accessToken, body: { email: account.email, password: PASSWORD } });
    await expectError(response, 503, "unavailable");
    const rows = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ?").bind(account.userId).all<{ id: string; revoked_reason: string | null }>();
    expect(rows.results.map((r) => r.revoked_reason)).toEqual(["unheld"]);
    expect(await env.DB.prepare("SELECT id FROM users WHERE id = ?").bind(g.user.id).first()).toBeNull();
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
    await expectError(await refreshWith(gPair.refreshToken), 401, "invalid_token");
    // The unheld session shows nowhere, and a retried login (now a plain one) works.
    const again = await login(account);
    expect(await listedIds(again.accessToken)).toEqual([again.sessionId]);
    const view = await json(await adminCall(`/users/${account.userId}`));
    expect(view.sessions.map((s: Json) => s.id)).toEqual([again.sessionId]);
  });
});

describe("a held D1-path session the object holds expired, its D1 row live within the slack", () => {
  it("cannot be refreshed or listed, and holds no slot when a 6th D1-path sign-in comes", async () => {
    const account = await verifiedAccount("held-slack");
    const l1 = await login(account);
    const merged = await mergeLogin(account.email);
    expect(merged.status).toBe(200);
    const a = await json(merged);
    // The object's clock near the end of both sessions' 30 days; l1 refreshed (its expiry moves on), then past a's end.
    await advanceUserClock(account.userId, 30 * 86_400_000 - 60_000);
    const l1Next = await json(await refreshWith(l1.refreshToken));
    expect(l1Next.refreshToken).toBeDefined();
    await advanceUserClock(account.userId, 120_000);
    expect(await revokedReason(a.sessionId)).toBeNull(); // D1 still counts it live (the slack)
    const others = [await login(account), await login(account), await login(account)];
    // D1 live: l1, a, and three more; the object holds a expired, so the 6th must end nobody live.
    const sixthResponse = await mergeLogin(account.email);
    expect(sixthResponse.status).toBe(200);
    const sixth = await json(sixthResponse);
    expect(await revokedReason(l1.sessionId)).toBeNull();
    const listed = await listedIds(sixth.accessToken);
    expect(listed).not.toContain(a.sessionId);
    expect(listed).toEqual(expect.arrayContaining([l1.sessionId, sixth.sessionId, ...others.map((o) => o.sessionId)]));
    expect((await refreshWith(l1Next.refreshToken)).status).toBe(200);
    await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
    // Its first token once more (now its row is ended, or not): still nothing, and no adoption brought it back.
    await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
    expect(await listedIds(sixth.accessToken)).not.toContain(a.sessionId);
  });
});

describe("more that lands between a held sign-in's D1 batch and its hold", () => {
  it("a password change with revokeOtherSessions ends the new session", async () => {
    const account = await verifiedAccount("held-pw");
    const changer = await login(account);
    const gated = gatedHold();
    const signingIn = gated.fetch("/v1/auth/login", { token: (await guest()).accessToken, body: { email: account.email, password: PASSWORD } });
    await gated.reached;
    const body = { currentPassword: PASSWORD, newPassword: "ember-quartz-meadow-77", revokeOtherSessions: true };
    expect((await call("/v1/auth/change-password", { token: changer.accessToken, body })).status).toBe(200);
    gated.open();
    const response = await signingIn;
    // The batch was written under the old password before the change: the sign-in answers, and its session is ended.
    expect(response.status).toBe(200);
    const pair = await json(response);
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    expect(await listedIds(changer.accessToken)).not.toContain(pair.sessionId);
    const survivor = await call("/v1/auth/me", { token: changer.accessToken });
    expect(survivor.status).toBe(200);
  });

  it("another session's sign-out and list there leave the new session live, listed and refreshable", async () => {
    const account = await verifiedAccount("held-list");
    const out = await login(account);
    const lister = await login(account);
    const gated = gatedHold();
    const signingIn = gated.fetch("/v1/auth/login", { token: (await guest()).accessToken, body: { email: account.email, password: PASSWORD } });
    await gated.reached;
    expect((await call("/v1/auth/revoke", { body: { refreshToken: out.refreshToken } })).status).toBe(204);
    const during = await listedIds(lister.accessToken);
    expect(during).not.toContain(out.sessionId);
    gated.open();
    const response = await signingIn;
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(await listedIds(lister.accessToken)).toEqual(expect.arrayContaining([lister.sessionId, pair.sessionId]));
    expect(await listedIds(pair.accessToken)).not.toContain(out.sessionId);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });
});

describe("step-up on a held D1-path session", () => {
  it("an aal1 merge session, vouched at its hold, steps up to aal2 and its refresh keeps aal2 and both methods", async () => {
    const account = await verifiedAccount("held-step");
    const merged = await json(await mergeLogin(account.email));
    expect(claims(merged.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
    // The factor is enabled from another session; the held one stays aal1 until it steps up.
    const factor = await enableMfa((await login(account)).accessToken, PASSWORD);
    const stepped = await call("/v1/auth/mfa/step-up", { body: { code: await factor.authenticator.next() }, token: merged.accessToken });
    expect(stepped.status, await stepped.clone().text()).toBe(200);
    const pair = await json(stepped);
    expect(pair.sessionId).toBe(merged.sessionId);
    expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    const refreshed = await json(await refreshWith(pair.refreshToken ?? merged.refreshToken));
    expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    const again = await json(await refreshWith(refreshed.refreshToken));
    expect(claims(again.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    // The object holds the session's assurance (slice 9): the step-up is kept there, D1's row has none.
    expect(await inUserSessions(account.userId, (sql) => sql.exec("SELECT aal, amr FROM session_state WHERE id = ?", merged.sessionId).one())).toEqual({ aal: "aal2", amr: "password totp" });
    expect(await env.DB.prepare("SELECT aal, amr FROM sessions WHERE id = ?").bind(merged.sessionId).first()).toEqual({ aal: null, amr: null });
  });
});

describe("concurrent held D1-path sign-ins at the session limit", () => {
  it("5 live, then 3 merges at once: D1 keeps 5, the object lists exactly those, and every other session is refused", async () => {
    const account = await verifiedAccount("held-limit-race");
    const all: Json[] = [];
    for (let i = 0; i < 5; i++) all.push(await login(account));
    const responses = await Promise.all([0, 1, 2].map(() => mergeLogin(account.email)));
    for (const response of responses) expect(response.status).toBe(200);
    for (const response of responses) all.push(await json(response));
    const live = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(account.userId).all<{ id: string }>();
    const liveIds = live.results.map((r) => r.id).sort();
    expect(liveIds).toHaveLength(5);
    const survivor = all.find((pair) => liveIds.includes(pair.sessionId))!;
    expect((await listedIds(survivor.accessToken)).sort()).toEqual(liveIds);
    for (const pair of all) {
      const me = await call("/v1/auth/me", { token: pair.accessToken });
      expect(me.status, pair.sessionId).toBe(liveIds.includes(pair.sessionId) ? 200 : 401);
      const refreshed = await refreshWith(pair.refreshToken);
      expect(refreshed.status, pair.sessionId).toBe(liveIds.includes(pair.sessionId) ? 200 : 401);
    }
  });
});
