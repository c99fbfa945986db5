/**
 * Adversarial review of issue 27's slice 7 (a full account's D1-path sign-in held by its object from
 * `endChange` with `hold`, src/sessions/issue.ts, src/sessions/hold.ts): what may land between the
 * sign-in's D1 batch and the object's taking the session (an account deletion, revoke-all, an admin
 * disable), the 6th-session rule when the 6th is a held D1-path sign-in, and the client the list and
 * the admin view show once D1 keeps none. Over HTTP in workerd with the real D1 and objects; the
 * only stand-in is a `USER_SESSIONS` proxy that holds the account's `endChange(…, hold)` at a gate.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/held-break.test.ts
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, adminCall, call, expectError, guest, json, login, objectStorage, refreshWith, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { fetchWith, gatedHold, holdObjectD1 } from "../helpers/edge";
import { verifySession } from "../revocation/matrix";

vi.setConfig({ testTimeout: 60_000 });

/** A login carrying a fresh guest's token: the merge, a D1-path sign-in held by the account's object. */
const mergeLogin = async (email: string, options: { ip?: string; headers?: Record<string, string> } = {}) =>
  call("/v1/auth/login", { token: (await guest()).accessToken, body: { email, password: PASSWORD }, ...options });

const d1Row = (sessionId: string) =>
  env.DB.prepare("SELECT revoked_reason, first_refresh_token_hash, ip_address, user_agent FROM sessions WHERE id = ?")
    .bind(sessionId)
    .first<{ revoked_reason: string | null; first_refresh_token_hash: string | null; ip_address: string | null; user_agent: string | null }>();

/** The new session of a gated sign-in: the newest D1 row of the user. */
const newestSession = (userId: string) =>
  env.DB.prepare("SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC LIMIT 1").bind(userId).first<{ id: string }>();

/**
 * A login merging a new guest (the D1 path, so its session is held at `endChange`), paused between
 * its D1 batch and its hold: `gated.open()` lets the hold run; `signingIn` is the login's answer.
 */
async function mergeLoginAtGate(account: { email: string }) {
  const gated = gatedHold();
  const guestPair = await guest();
  const signingIn = gated.fetch("/v1/auth/login", { token: guestPair.accessToken, body: { email: account.email, password: PASSWORD } });
  await gated.reached;
  return { gated, signingIn };
}

describe("what lands between a held sign-in's D1 batch and its hold", () => {
  it("an account deleted there leaves the object no storage (API.md §9) and the session nothing to refresh", async () => {
    const account = await verifiedAccount("held-del");
    const { gated, signingIn } = await mergeLoginAtGate(account);
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    gated.open();
    // The batch committed before the deletion, but the erased object does not take the session: 503, no tokens.
    await expectError(await signingIn, 503, "unavailable");
    // Deletion erased the object before the hold arrived; the hold must not make it store again.
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(0);
  });

  it("revoke-all there ends the new session too: refresh, me, AuthRpc and the list refuse it", async () => {
    const account = await verifiedAccount("held-ra");
    const other = await login(account);
    const { gated, signingIn } = await mergeLoginAtGate(account);
    const newId = (await newestSession(account.userId))!.id;
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: other.accessToken })).status).toBe(204);
    gated.open();
    const response = await signingIn;
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.sessionId).toBe(newId);
    expect((await d1Row(newId))?.revoked_reason).not.toBeNull();
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    expect(await verifySession(pair.accessToken)).toBeNull();
    await expectError(await call("/v1/auth/sessions", { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("an admin disable there ends the new session: me, AuthRpc and refresh refuse it", async () => {
    const account = await verifiedAccount("held-dis");
    const { gated, signingIn } = await mergeLoginAtGate(account);
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    gated.open();
    const response = await signingIn;
    expect(response.status).toBe(200);
    const pair = await json(response);
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    expect(await verifySession(pair.accessToken)).toBeNull();
    const refreshed = await refreshWith(pair.refreshToken);
    expect([401, 403]).toContain(refreshed.status);
  });
});

describe("the 6th-session rule when the 6th is a held D1-path sign-in", () => {
  it("ends the oldest at once: refresh, me, AuthRpc refuse it and the list no longer shows it", async () => {
    const account = await verifiedAccount("held-six");
    const five: Json[] = [];
    for (let i = 0; i < 5; i++) five.push(await login(account));
    // Each refreshed once, so the oldest is held and vouched by the object before the 6th arrives.
    for (const pair of five) {
      const next = await json(await refreshWith(pair.refreshToken));
      pair.accessToken = next.accessToken;
      pair.refreshToken = next.refreshToken;
    }
    const response = await mergeLogin(account.email);
    expect(response.status).toBe(200);
    const sixth = await json(response);
    const oldest = five[0]!;
    await expectError(await call("/v1/auth/me", { token: oldest.accessToken }), 401, "invalid_token");
    expect(await verifySession(oldest.accessToken)).toBeNull();
    await expectError(await refreshWith(oldest.refreshToken), 401, "invalid_token");
    const listed = (await json(await call("/v1/auth/sessions", { token: sixth.accessToken }))).sessions.map((s: Json) => s.id);
    expect(listed).not.toContain(oldest.sessionId);
    expect(listed).toHaveLength(5);
    expect(listed).toContain(sixth.sessionId);
  });
});

describe("a held D1-path session's client, of record in the object", () => {
  it("the list and the admin view show the sign-in's client though D1 keeps none", async () => {
    const account = await verifiedAccount("held-view");
    const response = await mergeLogin(account.email, { ip: "203.0.113.77", headers: { "user-agent": "Merge/7" } });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(await d1Row(pair.sessionId)).toMatchObject({ ip_address: null, user_agent: null, first_refresh_token_hash: null });
    const listed = await json(await call("/v1/auth/sessions", { token: pair.accessToken }));
    expect(listed.sessions.find((s: Json) => s.id === pair.sessionId)).toMatchObject({ ipAddress: "203.0.113.77", userAgent: "Merge/7", current: true });
    const view = await json(await adminCall(`/users/${account.userId}`));
    expect(view.sessions.find((s: Json) => s.id === pair.sessionId)).toMatchObject({ ipAddress: "203.0.113.77", userAgent: "Merge/7" });
  });
});

describe("a held D1-path sign-in behind the object's own D1 writes", () => {
  it("waits behind a queued revoke whose D1 write is held, then answers; its session refreshes with the object's D1 down", async () => {
    const account = await verifiedAccount("held-queue");
    const other = await login(account);
    const gate = await holdObjectD1(account.userId);
    try {
      const revoking = call("/v1/auth/revoke", { body: { refreshToken: other.refreshToken } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      let answered = false;
      const signingIn = mergeLogin(account.email).then((response) => ((answered = true), response));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(answered).toBe(false); // its hold is queued behind the revoke's held D1 write
      gate.open();
      expect((await revoking).status).toBe(204);
      const response = await signingIn;
      expect(response.status).toBe(200);
      const pair = await json(response);
      await gate.restore();
      // Vouched at its hold: the first refresh needs no D1 from the object, even when D1 fails there.
      const down = await holdObjectD1(account.userId, true);
      try {
        const refreshed = await refreshWith(pair.refreshToken);
        expect(refreshed.status).toBe(200);
      } finally {
        await down.restore();
      }
      await expectError(await refreshWith(other.refreshToken), 401, "invalid_token");
    } finally {
      gate.open();
      await gate.restore();
    }
  });
});
