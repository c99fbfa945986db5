/**
 * The admin API (API.md §10): off without ADMIN_API_KEY, the key checked (a wrong one 401 and a
 * failed login of the caller's address), search by prefix with cursor pages over more than 1,000
 * users, one user in detail, disable (sessions end; password login 403 account_disabled; refresh
 * 401) and enable, revoke sessions, delete as self-deletion does; every change in the activity.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { changeUser } from "../../src/accounts/change-user";
import {
  ADMIN_KEY, BASE, PASSWORD, adminCall, call, expectError, freshIp, json, login, objectStorage, refreshWith, rowsOfUser, serviceDeps, verifiedAccount,
} from "../helpers";
import type { Json } from "../helpers";

async function withoutKey(path: string, init: RequestInit = {}): Promise<Response> {
  const { ADMIN_API_KEY: _key, ...rest } = env as unknown as Record<string, unknown>;
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", freshIp());
  const response = await worker.fetch(new Request(`${BASE}${path}`, { ...init, headers }), rest as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("the admin gate", () => {
  it("is a 404 on every path while ADMIN_API_KEY is unset, even with the right key", async () => {
    for (const path of ["/v1/admin/users", `/v1/admin/users/${crypto.randomUUID()}`, "/v1/admin/anything"]) {
      const response = await withoutKey(path, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      await expectError(response, 404, "not_found");
      expect(response.headers.get("RateLimit-Limit")).toBeNull();
    }
    await expectError(await withoutKey(`/v1/admin/users/${crypto.randomUUID()}/disable`, { method: "POST" }), 404, "not_found");
  });

  it("answers 401 to a missing or wrong key, which also counts as a failed login of the address", async () => {
    await expectError(await call("/v1/admin/users"), 401, "invalid_token");
    const ip = freshIp();
    const wrong = await call("/v1/admin/users", { ip, headers: { authorization: `Bearer ${ADMIN_KEY}x` } });
    await expectError(wrong, 401, "invalid_token");
    expect(wrong.headers.get("RateLimit-Limit")).toBe("60");
    // The login bucket (5 a minute) has 4 left for this address; the next wrong keys use them up.
    for (let i = 0; i < 4; i++) await expectError(await call("/v1/admin/users", { ip, headers: { authorization: "Bearer nope" } }), 401, "invalid_token");
    await expectError(await call("/v1/admin/users", { ip, headers: { authorization: "Bearer nope" } }), 429, "rate_limited");
    expect((await call("/v1/auth/login", { ip, body: { email: "x@example.com", password: PASSWORD } })).status).toBe(429);
    // The right key is still served from that address (the admin bucket has room).
    expect((await adminCall("/users?limit=1", { ip })).status).toBe(200);
  });
});

describe("GET /v1/admin/users", () => {
  it("finds users by email or username prefix, case-insensitively, in cursor pages over more than 1,000 users", async () => {
    const tag = `adm${crypto.randomUUID().slice(0, 6)}`;
    const now = Date.now();
    const statements: D1PreparedStatement[] = [];
    for (let i = 0; i < 1030; i++) {
      const byEmail = i % 2 === 0;
      const email = byEmail ? `${tag}.${i}@Example.com` : `other-${tag}-${i}@example.com`;
      const username = byEmail ? null : `${tag}_${i}`;
      statements.push(
        env.DB.prepare("INSERT INTO users (id, email, email_normalized, username, username_normalized, is_guest, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)").bind(
          crypto.randomUUID(), email, email.toLowerCase(), username, username?.toLowerCase() ?? null, now, now,
        ),
      );
    }
    for (let i = 0; i < statements.length; i += 200) await env.DB.batch(statements.slice(i, i + 200));
    // A decoy whose address holds the tag, but not at the start.
    await env.DB.prepare("INSERT INTO users (id, email, email_normalized, is_guest, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)")
      .bind(crypto.randomUUID(), `x${tag}@example.com`, `x${tag}@example.com`, now, now)
      .run();

    const ids = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response: Response = await adminCall(`/users?query=${tag.toUpperCase()}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(response.status).toBe(200);
      const page: Json = await json(response);
      expect(page.users.length).toBeLessThanOrEqual(100);
      for (const user of page.users) {
        expect(user.email?.toLowerCase().startsWith(tag) || user.username?.toLowerCase().startsWith(tag)).toBe(true);
        ids.add(user.id);
      }
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 20);
    expect(ids.size).toBe(1030);
    expect(pages).toBe(11);
    const first = (await json(await adminCall(`/users?query=${tag}&limit=1`))).users[0];
    expect(Object.keys(first).sort()).toEqual(
      ["createdAt", "disabled", "email", "emailVerified", "hasPassword", "id", "isGuest", "lastSignInAt", "mfaEnabled", "profilePicture", "sessionCount", "username"],
    );
    // LIKE's own characters are plain text in a query.
    expect((await json(await adminCall(`/users?query=${tag.slice(0, 3)}%25${tag.slice(4)}`))).users).toEqual([]);
    await expectError(await adminCall("/users?limit=500"), 400, "invalid_request");
    await expectError(await adminCall("/users?cursor=bm9wZQ"), 400, "invalid_request");
  });
});

describe("one user: detail, disable, enable, revoke sessions, delete", () => {
  it("shows the user with its sessions, identities and passkeys; 404 for unknown, 400 for a non-UUID", async () => {
    const account = await verifiedAccount("admin-detail");
    const pair = await login(account);
    const response = await adminCall(`/users/${account.userId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const body = await json(response);
    expect(body.user).toMatchObject({ id: account.userId, email: account.email, disabled: false, hasPassword: true, sessionCount: 1 });
    expect(body.user.lastSignInAt).not.toBeNull();
    expect(body.sessions.map((s: Json) => s.id)).toEqual([pair.sessionId]);
    expect(body.identities).toEqual([]);
    expect(body.passkeys).toEqual([]);
    await expectError(await adminCall(`/users/${crypto.randomUUID()}`), 404, "not_found");
    await expectError(await adminCall("/users/not-a-uuid"), 400, "invalid_request");
  });

  it("disable ends every session and refuses sign-in with 403 account_disabled; enable lets it back in", async () => {
    const account = await verifiedAccount("admin-disable");
    const pair = await login(account);
    const disabled = await adminCall(`/users/${account.userId}/disable`, { method: "POST" });
    expect(disabled.status).toBe(200);
    expect((await json(disabled)).user).toMatchObject({ id: account.userId, disabled: true, sessionCount: 0 });
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }), 403, "account_disabled");
    // A wrong password still says nothing about the account's state.
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: "wrong-password-77" } }), 401, "invalid_credentials");

    const enabled = await adminCall(`/users/${account.userId}/enable`, { method: "POST" });
    expect((await json(enabled)).user.disabled).toBe(false);
    const back = await login(account);
    const events = ((await json(await call("/v1/auth/activity", { token: back.accessToken }))).events as Json[]).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(["account_disabled", "account_enabled", "session_revoked"]));
    expect(events.indexOf("account_enabled")).toBeLessThan(events.indexOf("account_disabled"));
  });

  it("revoke-sessions ends every session (204); 404 for an unknown user", async () => {
    const account = await verifiedAccount("admin-revoke");
    const pairs = [await login(account), await login(account)];
    expect((await adminCall(`/users/${account.userId}/revoke-sessions`, { method: "POST" })).status).toBe(204);
    for (const pair of pairs) await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await adminCall(`/users/${crypto.randomUUID()}/revoke-sessions`, { method: "POST" }), 404, "not_found");
  });

  it("delete has the effects of self-deletion (204), then 404", async () => {
    const account = await verifiedAccount("admin-delete");
    const pair = await login(account);
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    expect(Object.values(await rowsOfUser(account.userId, account.email.toLowerCase())).every((n) => n === 0)).toBe(true);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    await expectError(await adminCall(`/users/${account.userId}`, { method: "DELETE" }), 404, "not_found");
  });
});

describe("disabled accounts on the service's own routes", () => {
  it("refuses a live session's access token once the account is disabled, even before its sessions end", async () => {
    const account = await verifiedAccount("admin-disabled-live");
    const pair = await login(account);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    // Only the flag (as if the revocation after it had failed): the liveness read refuses the token.
    // Every writer of `users` goes through changeUser (issue 27), which tells the user's object.
    const write = (at: number | null) => changeUser(serviceDeps(), account.userId, () => env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(at, account.userId).run());
    await write(Date.now());
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    await write(null);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
  });
});
