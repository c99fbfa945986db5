/**
 * Security activity (API.md §9): GET /v1/auth/activity (newest first, cursor pages, limits), the
 * events each change records, each in the same D1 batch as its change (a failing batch leaves
 * neither), and the daily clean-up after ACTIVITY_RETENTION_DAYS.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { purgeExpired } from "../../src/maintenance";
import {
  PASSWORD, call, expectError, guest, json, login, mailedToken, refreshWith, verifiedAccount,
} from "../helpers";
import type { Json } from "../helpers";

const activity = async (accessToken: string, query = ""): Promise<Json> => {
  const response = await call(`/v1/auth/activity${query}`, { token: accessToken });
  expect(response.status).toBe(200);
  expect(response.headers.get("RateLimit-Limit")).toBe("60");
  return json(response);
};
const types = async (accessToken: string) => ((await activity(accessToken)).events as Json[]).map((e) => e.type);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("GET /v1/auth/activity", () => {
  it("lists the events of sign-in, failure, refresh reuse, revocation and sign-out, newest first, with the documented fields", async () => {
    const account = await verifiedAccount("activity");
    const ip = "10.99.1.1";
    const first = await login(account, ip);
    expect((await call("/v1/auth/login", { body: { email: account.email, password: "wrong-password-99" } })).status).toBe(401);
    const second = await login(account);
    // Rotate, then reuse the old token after the window (aged in the object's storage): reuse detected.
    expect((await refreshWith(second.refreshToken)).status).toBe(200);
    const { inUserSessions } = await import("../helpers");
    await inUserSessions(account.userId, (sql) => sql.exec("UPDATE tokens SET rotated_at = rotated_at - 60000 WHERE rotated_at IS NOT NULL"));
    expect((await refreshWith(second.refreshToken)).status).toBe(401);
    const third = await login(account);
    expect((await call(`/v1/auth/sessions/${third.sessionId}`, { method: "DELETE", token: first.accessToken })).status).toBe(204);
    const revoked = await login(account);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: revoked.refreshToken } })).status).toBe(204);
    // Document 001's signout (the current session) and document 000's (a refresh token) are sign-outs.
    expect((await call("/auth/signout", { token: first.accessToken, body: {} })).status).toBe(200);
    const fifth = await login(account);
    expect((await call("/auth/signout", { token: fifth.accessToken, body: { refresh_token: fifth.refreshToken } })).status).toBe(204);
    const fourth = await login(account);

    const page = await activity(fourth.accessToken);
    const seen = (page.events as Json[]).map((e) => e.type);
    expect(seen.slice(0, 9)).toEqual([
      "sign_in", "sign_out", "sign_in", "sign_out", "session_revoked", "sign_in", "session_revoked", "sign_in", "refresh_reuse_detected",
    ]);
    expect(seen).toContain("sign_in_failed");
    expect(seen).toContain("email_verified");
    const signIn = page.events[0];
    expect(Object.keys(signIn).sort()).toEqual(["createdAt", "id", "ipAddress", "method", "sessionId", "type", "userAgent"]);
    expect(signIn).toMatchObject({ type: "sign_in", method: "password", sessionId: fourth.sessionId });
    expect(page.events.filter((e: Json) => e.type === "sign_out").map((e: Json) => e.sessionId)).toEqual([fifth.sessionId, first.sessionId]);
    expect(page.events.filter((e: Json) => e.type === "session_revoked").map((e: Json) => e.sessionId)).toEqual([revoked.sessionId, third.sessionId]);
    expect(page.events.find((e: Json) => e.type === "sign_in_failed").method).toBe("password");
    expect(page.events.at(-1).ipAddress === ip || page.events.some((e: Json) => e.ipAddress === ip)).toBe(true);
    expect(page.events.find((e: Json) => e.type === "sign_out")).not.toHaveProperty("method");
    const times = (page.events as Json[]).map((e) => Date.parse(e.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(page.nextCursor).toBeNull();
  });

  it("pages with limit and before, without gaps or repeats", async () => {
    const pair = await guest();
    const now = Date.now();
    const rows = Array.from({ length: 120 }, (_, i) =>
      env.DB.prepare("INSERT INTO activity (id, user_id, type, method, created_at, ip_address, user_agent, session_id) VALUES (?, ?, 'sign_out', NULL, ?, NULL, NULL, NULL)")
        // Several events share each millisecond.
        .bind(crypto.randomUUID(), pair.user.id, now - 10_000 - Math.floor(i / 3)),
    );
    await env.DB.batch(rows);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Json = await activity(pair.accessToken, `?limit=50${cursor ? `&before=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.events.length).toBeLessThanOrEqual(50);
      seen.push(...page.events.map((e: Json) => e.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(121); // 120 inserted and the guest's sign_in
    expect((await activity(pair.accessToken)).events).toHaveLength(50);
    await expectError(await call("/v1/auth/activity?limit=101", { token: pair.accessToken }), 400, "invalid_request");
    await expectError(await call("/v1/auth/activity?limit=0", { token: pair.accessToken }), 400, "invalid_request");
    await expectError(await call("/v1/auth/activity?before=bm9wZQ", { token: pair.accessToken }), 400, "invalid_request");
    await expectError(await call("/v1/auth/activity"), 401, "invalid_token");
  });

  it("records password changes, resets, upgrades, revoke-all and the 6th-session eviction", async () => {
    const visitor = await guest();
    const upgraded = await call("/v1/auth/upgrade", {
      token: visitor.accessToken,
      body: { email: `upgr-${crypto.randomUUID().slice(0, 8)}@example.com`, username: `up_${crypto.randomUUID().slice(0, 8)}`, password: PASSWORD },
    });
    expect(upgraded.status).toBe(201);
    expect(await types((await json(upgraded)).accessToken)).toContain("upgraded");

    const account = await verifiedAccount("activity-pw");
    const pair = await login(account);
    const newPassword = "amber-forest-signal-31";
    expect((await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword } })).status).toBe(200);
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    expect((await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: PASSWORD } })).status).toBe(200);
    const sessions = [];
    for (let i = 0; i < 6; i++) sessions.push(await login(account));
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: sessions[5].accessToken })).status).toBe(204);
    const fresh = await login(account);
    const seen = await types(fresh.accessToken);
    expect(seen).toEqual(expect.arrayContaining(["password_changed", "password_reset", "session_revoked"]));
    // The reset ended the session of the change (session_revoked), the sixth login evicted the oldest,
    // and revoke-all ended the other five: one event per session.
    const revoked = seen.filter((t: string) => t === "session_revoked").length;
    expect(revoked).toBeGreaterThanOrEqual(1 + 1 + 5);
  });
});

describe("events in the same batch as their change", () => {
  it("a failing password change writes neither the new hash nor password_changed", async () => {
    const account = await verifiedAccount("activity-fault");
    const pair = await login(account);
    const trigger = `fault_${account.userId.replace(/-/g, "")}`;
    await env.DB.exec(`CREATE TRIGGER ${trigger} BEFORE INSERT ON activity WHEN NEW.user_id = '${account.userId}' AND NEW.type = 'password_changed' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
    try {
      const response = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword: "amber-forest-signal-31" } });
      expect(response.status).toBe(500);
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    expect((await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } })).status).toBe(200);
    expect(await types(pair.accessToken)).not.toContain("password_changed");
  });

  it("a failing revocation event leaves the session live", async () => {
    const account = await verifiedAccount("activity-fault-revoke");
    const pair = await login(account);
    const trigger = `fault_r_${account.userId.replace(/-/g, "")}`;
    await env.DB.exec(`CREATE TRIGGER ${trigger} BEFORE INSERT ON activity WHEN NEW.user_id = '${account.userId}' AND NEW.type = 'session_revoked' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
    try {
      expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBe(500);
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect(await types(pair.accessToken)).not.toContain("sign_out");
  });
});

describe("retention", () => {
  it("the daily clean-up drops events older than ACTIVITY_RETENTION_DAYS and keeps newer ones", async () => {
    const pair = await guest();
    const day = 86_400_000;
    const old = crypto.randomUUID();
    const recent = crypto.randomUUID();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO activity (id, user_id, type, created_at) VALUES (?, ?, 'sign_out', ?)").bind(old, pair.user.id, Date.now() - 91 * day),
      env.DB.prepare("INSERT INTO activity (id, user_id, type, created_at) VALUES (?, ?, 'sign_out', ?)").bind(recent, pair.user.id, Date.now() - 89 * day),
    ]);
    await purgeExpired(env as Env, Date.now(), { ...loadConfig(env), activityRetentionMs: 90 * day });
    const ids = ((await activity(pair.accessToken)).events as Json[]).map((e) => e.id);
    expect(ids).toContain(recent);
    expect(ids).not.toContain(old);
    await sleep(0);
  });
});
