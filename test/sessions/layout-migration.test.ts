/**
 * Issue 27, item 6: sessions written before a deploy that moved them keep working after it. A
 * session of the layout every sign-in wrote before slices 7 and 8 (a D1 row holding its first
 * token's hash, its client and its true expiry; the user's object storing nothing:
 * `toLegacyLayout`) is refreshed, listed, counted under the session limit and ended like one the
 * object held from its start, also beside sessions started after the deploy. (Objects of older
 * schema versions: test/sessions/token-store-migrations.test.ts and edge-refresh.test.ts; passkeys
 * of the old table: test/passkeys/lean-layout.test.ts.) Over HTTP in workerd, with the real D1 and
 * objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/layout-migration.test.ts
 */
import { describe, expect, it } from "vitest";
import {
  PASSWORD, call, env, expectError, freshIp, guest, json, login, objectStorage, refreshWith, toLegacyLayout, uniqueEmail, uniqueUsername,
  verifiedAccount,
} from "../helpers";
import type { Json } from "../helpers";

const row = (sessionId: string) =>
  env.DB.prepare("SELECT first_refresh_token_hash AS hash, ip_address AS ip, revoked_reason AS reason FROM sessions WHERE id = ?")
    .bind(sessionId)
    .first<{ hash: string | null; ip: string | null; reason: string | null }>();
const listOf = async (accessToken: string) => (await json(await call("/v1/auth/sessions", { token: accessToken }))).sessions as Json[];

/** A verified account signed in from a fresh address, its session then given the layout before slice 7. */
async function legacySignIn(label: string) {
  const account = await verifiedAccount(label);
  const ip = freshIp();
  const old = await toLegacyLayout(await login(account, ip), ip);
  return { account, ip, old };
}

describe("a full account's session of the layout before slice 7, after the deploy", () => {
  it("answers me, is listed with its client, is adopted by its first refresh, and ends by sign-out", async () => {
    const { account, ip, old } = await legacySignIn("upgrade-full");
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    expect((await row(old.sessionId))?.hash).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect((await call("/v1/auth/me", { token: old.accessToken })).status).toBe(200);
    expect(await listOf(old.accessToken)).toEqual([expect.objectContaining({ id: old.sessionId, current: true, ipAddress: ip })]);
    const next = await json(await refreshWith(old.refreshToken));
    expect(next.sessionId).toBe(old.sessionId);
    // Adopted: the object holds it now, and D1's row keeps neither the hash nor the client.
    expect(await row(old.sessionId)).toMatchObject({ hash: null, ip: null });
    expect((await objectStorage(account.userId)).rows).toBeGreaterThan(0);

    expect((await call("/v1/auth/revoke", { body: { refreshToken: next.refreshToken } })).status).toBe(204);
    await expectError(await refreshWith(next.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: next.accessToken }), 401, "invalid_token");
  });

  it("lives beside sessions started after the deploy: listed with them, evicted first by the limit, ended by revoke-all", async () => {
    const { account, ip, old } = await legacySignIn("upgrade-mixed");
    // Four sign-ins of the new layout: the object (no storage yet) reads D1 once and holds all five.
    const fresh: Json[] = [];
    for (let i = 0; i < 4; i++) fresh.push(await login(account));
    const listed = await listOf(fresh[3]!.accessToken);
    expect(listed.map((s) => s.id).sort()).toEqual([old, ...fresh].map((p) => p.sessionId).sort());
    expect(listed.find((s) => s.id === old.sessionId)).toMatchObject({ ipAddress: ip });

    // The sixth session evicts the oldest: the one of the old layout, never refreshed.
    const sixth = await login(account);
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: old.accessToken }), 401, "invalid_token");
    expect((await row(old.sessionId))?.reason).toBe("session_limit");

    expect((await call("/v1/auth/revoke-all", { method: "POST", token: sixth.accessToken })).status).toBe(204);
    for (const pair of [...fresh, sixth]) await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("is ended by a password change that revokes the other sessions, before its first refresh", async () => {
    const { account, old } = await legacySignIn("upgrade-password");
    const current = await login(account);
    const body = { currentPassword: PASSWORD, newPassword: `${PASSWORD}-2`, revokeOtherSessions: true };
    expect((await call("/v1/auth/change-password", { token: current.accessToken, body })).status).toBe(200);
    expect((await call("/v1/auth/me", { token: current.accessToken })).status).toBe(200);
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: old.accessToken }), 401, "invalid_token");
  });

  it("stays ended when its row was revoked before the deploy: refused by refresh, me and the list", async () => {
    const { account, old } = await legacySignIn("upgrade-revoked");
    await env.DB.prepare("UPDATE sessions SET revoked_at = ?, revoked_reason = 'revoke_all' WHERE id = ?").bind(Date.now(), old.sessionId).run();
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: old.accessToken }), 401, "invalid_token");
    const current = await login(account);
    expect((await listOf(current.accessToken)).map((s) => s.id)).toEqual([current.sessionId]);
  });
});

describe("a guest's session of the layout before slice 8, after the deploy", () => {
  it("upgrades to a full account and refreshes after, with no expiry until then and the account's after", async () => {
    const ip = freshIp();
    const old = await toLegacyLayout(await guest(ip), ip);
    expect((await row(old.sessionId))?.hash).not.toBeNull();
    const upgraded = await call("/v1/auth/upgrade", {
      token: old.accessToken,
      body: { email: uniqueEmail("upgrade-guest"), username: uniqueUsername("upg"), password: PASSWORD },
    });
    expect(upgraded.status).toBe(201);
    const pair = await json(upgraded);
    expect(pair.user.isGuest).toBe(false);
    expect(pair.sessionId).toBe(old.sessionId);
    expect(pair.refreshExpiresIn).toBeGreaterThan(0);
    const next = await refreshWith(pair.refreshToken);
    expect(next.status).toBe(200);
    expect((await json(next)).sessionId).toBe(old.sessionId);
  });
});
