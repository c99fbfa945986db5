/**
 * Session routes over HTTP: revoke, revoke-all, listing, deleting, and the liveness check that
 * makes every authenticated route refuse an access token whose session has ended.
 */
import { describe, expect, it } from "vitest";
import { call, expectError, guest, json, login, refreshWith, uniqueEmail, verifiedAccount } from "../helpers";

const me = (token: string) => call("/v1/auth/me", { token });
const list = async (token: string) => {
  const response = await call("/v1/auth/sessions", { token, headers: { "user-agent": "SessionsTest/1.0" } });
  expect(response.status).toBe(200);
  return (await json(response)).sessions as Array<Record<string, unknown>>;
};

describe("revoke", () => {
  it("ends the session of a refresh token at once, and answers 204 for unknown tokens too", async () => {
    const g = await guest();
    const revoked = await call("/v1/auth/revoke", { body: { refreshToken: g.refreshToken } });
    expect(revoked.status).toBe(204);
    expect(await revoked.text()).toBe("");
    await expectError(await me(g.accessToken), 401, "invalid_token");
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
    expect((await call("/v1/auth/revoke", { body: { refreshToken: g.refreshToken } })).status).toBe(204);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: "x".repeat(86) } })).status).toBe(204);
    await expectError(await call("/v1/auth/revoke", { body: {} }), 400, "invalid_request");
  });

  it("revoke-all ends every session of the caller and needs a bearer token", async () => {
    const account = await verifiedAccount("revokeall");
    const a = await login(account);
    const b = await login(account);
    await expectError(await call("/v1/auth/revoke-all", { method: "POST" }), 401, "invalid_token");
    const response = await call("/v1/auth/revoke-all", { method: "POST", token: a.accessToken });
    expect(response.status).toBe(204);
    for (const pair of [a, b]) {
      await expectError(await me(pair.accessToken), 401, "invalid_token");
      await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    }
    expect((await login(account)).accessToken).toBeTruthy();
  });
});

describe("listing sessions", () => {
  it("lists live sessions with the documented fields and marks the current one", async () => {
    const account = await verifiedAccount("list");
    const a = await login(account, "198.51.100.7");
    const b = await login(account);
    const sessions = await list(b.accessToken);
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(Object.keys(s).sort()).toEqual(["createdAt", "current", "expiresAt", "id", "ipAddress", "lastUsedAt", "userAgent"]);
    }
    const current = sessions.find((s) => s.current);
    expect(current?.id).toBe(b.sessionId);
    const other = sessions.find((s) => s.id === a.sessionId);
    expect(other).toMatchObject({ current: false, ipAddress: "198.51.100.7" });
    expect(new Date(String(other?.expiresAt)).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    // A refresh updates lastUsedAt, the address and the user agent of that session.
    await call("/v1/auth/refresh", { body: { refreshToken: a.refreshToken }, ip: "2001:db8::1", headers: { "user-agent": "Phone/2" } });
    const refreshed = (await list(b.accessToken)).find((s) => s.id === a.sessionId);
    expect(refreshed).toMatchObject({ ipAddress: "2001:db8::1", userAgent: "Phone/2" });
  });

  it("shows every revocation at once", async () => {
    const account = await verifiedAccount("listrevoke");
    const a = await login(account);
    const b = await login(account);
    await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } });
    const sessions = await list(b.accessToken);
    expect(sessions.map((s) => s.id)).toEqual([b.sessionId]);
  });
});

describe("deleting a session", () => {
  it("answers 204 for one's own session, then 404; 400 for a non-UUID; 403 for another user's", async () => {
    const account = await verifiedAccount("delete");
    const a = await login(account);
    const b = await login(account);
    const stranger = await guest();

    await expectError(await call("/v1/auth/sessions/not-a-uuid", { method: "DELETE", token: b.accessToken }), 400, "invalid_request");
    await expectError(await call(`/v1/auth/sessions/${stranger.sessionId}`, { method: "DELETE", token: b.accessToken }), 403, "forbidden");
    await expectError(
      await call(`/v1/auth/sessions/${crypto.randomUUID()}`, { method: "DELETE", token: b.accessToken }),
      404,
      "not_found",
    );
    const deleted = await call(`/v1/auth/sessions/${a.sessionId}`, { method: "DELETE", token: b.accessToken });
    expect(deleted.status).toBe(204);
    await expectError(await me(a.accessToken), 401, "invalid_token");
    await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
    expect((await me(stranger.accessToken)).status).toBe(200);
    await expectError(await call(`/v1/auth/sessions/${a.sessionId}`, { method: "DELETE", token: b.accessToken }), 404, "not_found");
  });

  it("lets a user end the current session, after which its token is refused", async () => {
    const g = await guest();
    expect((await call(`/v1/auth/sessions/${g.sessionId}`, { method: "DELETE", token: g.accessToken })).status).toBe(204);
    await expectError(await me(g.accessToken), 401, "invalid_token");
  });
});

describe("authentication", () => {
  it("answers 401 with WWW-Authenticate for a missing or malformed bearer token", async () => {
    const missing = await call("/v1/auth/me");
    await expectError(missing, 401, "invalid_token");
    expect(missing.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    await expectError(await call("/v1/auth/me", { headers: { authorization: "Basic abc" } }), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: "a.b.c" }), 401, "invalid_token");
  });

  it("challenges a wrong password with a plain Bearer, no error code (RFC 6750 §3: no token was at fault)", async () => {
    const response = await call("/v1/auth/login", { body: { email: uniqueEmail("challenge"), password: "wrong-password-123" } });
    await expectError(response, 401, "invalid_credentials");
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("refuses a token it has already verified once its session ends", async () => {
    const g = await guest();
    // The first call verifies the signature and remembers the token; the session is read each time.
    expect((await me(g.accessToken)).status).toBe(200);
    expect((await me(g.accessToken)).status).toBe(200);
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: g.accessToken })).status).toBe(204);
    await expectError(await me(g.accessToken), 401, "invalid_token");
  });

  it("me returns the user and is not cacheable", async () => {
    const g = await guest();
    const response = await me(g.accessToken);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const { user } = await json(response);
    expect(user).toEqual(g.user);
    expect(Object.keys(user).sort()).toEqual(["createdAt", "email", "emailVerified", "id", "isGuest", "mfaEnabled", "profilePicture", "username"]);
  });
});

describe("UUIDs are ids whatever their letter case", () => {
  // API.md §3: "DELETE /v1/auth/sessions/:sessionId | Bearer | – | 204; 400 not a UUID, 403 not yours,
  // 404 unknown". An upper-case spelling of the caller's own session id is a UUID (accepted, not a
  // 400) and names a known session, so it is neither 404 nor left alive.
  it("DELETE /v1/auth/sessions/:sessionId with the id in upper case ends that session (204)", async () => {
    const account = await verifiedAccount("upperdel");
    const here = await login(account);
    const other = await login(account);
    const response = await call(`/v1/auth/sessions/${other.sessionId.toUpperCase()}`, { method: "DELETE", token: here.accessToken });
    expect(response.status).toBe(204);
    await expectError(await refreshWith(other.refreshToken), 401, "invalid_token");
  });

  // API.md §4 (document 001): "DELETE /auth/:sessionId/sessions (Bearer) | – | 200; 400 not a UUID,
  // 403 not yours, 404 unknown".
  it("DELETE /auth/:sessionId/sessions with the id in upper case ends that session (200)", async () => {
    const account = await verifiedAccount("upperdel1");
    const here = await login(account);
    const other = await login(account);
    const response = await call(`/auth/${other.sessionId.toUpperCase()}/sessions`, { method: "DELETE", token: here.accessToken });
    expect(response.status).toBe(200);
    await expectError(await refreshWith(other.refreshToken), 401, "invalid_token");
  });

  // API.md §4 (document 001): "POST /auth/signout (Bearer) | sessionIds? (the current session when
  // left out) | 200".
  it("POST /auth/signout with sessionIds in upper case really ends those sessions", async () => {
    const account = await verifiedAccount("uppersignout");
    const here = await login(account);
    const other = await login(account);
    const response = await call("/auth/signout", { token: here.accessToken, body: { sessionIds: [other.sessionId.toUpperCase()] } });
    expect(response.status).toBe(200);
    await expectError(await refreshWith(other.refreshToken), 401, "invalid_token");
  });

  // API.md §4 (document 001): "GET /auth/:userId/sessions (Bearer) | – | 200, data: sessions; 403 for
  // another user's id". The caller's own id in upper case is not another user's id.
  it("GET /auth/:userId/sessions with the caller's own id in upper case lists its sessions (200)", async () => {
    const account = await verifiedAccount("upperlist");
    const pair = await login(account);
    const response = await call(`/auth/${account.userId.toUpperCase()}/sessions`, { token: pair.accessToken });
    expect(response.status).toBe(200);
    expect((await json(response)).data.map((s: { id: string }) => s.id)).toContain(pair.sessionId);
  });
});
