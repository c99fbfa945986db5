/**
 * One core, several doors (API.md preamble, §4, §6): a token issued at any door works at every
 * other, a session ended at one door is ended at all of them, aliases share one rate-limit bucket,
 * and /openapi.json lists the compatibility routes tagged by document.
 */
import { describe, expect, it } from "vitest";
import {
  PASSWORD, call, claims, expectError, freshIp, guest, json, login, mailedToken, uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import type { Json } from "../helpers";

const me = (token: string) => call("/v1/auth/me", { token });

async function ok(response: Response, status = 200): Promise<Json> {
  expect(response.status).toBe(status);
  return json(response);
}

describe("a token from each door works at the others", () => {
  it("a pair from /auth/login refreshes at /v1/auth/refresh, then at /auth/refresh-token, then at /auth/refresh", async () => {
    const account = await verifiedAccount("door000");
    const from000 = await ok(await call("/auth/login", { body: { email: account.email, password: account.password } }));

    const v1 = await ok(await call("/v1/auth/refresh", { body: { refreshToken: from000.refresh_token } }));
    expect(v1.user.id).toBe(account.userId);
    const doc001 = (await ok(await call("/auth/refresh-token", { body: { refreshToken: v1.refreshToken } }))).data;
    expect(doc001.sessionId).toBe(v1.sessionId);
    const doc000 = await ok(await call("/auth/refresh", { body: { access_token: doc001.accessToken, refresh_token: doc001.refreshToken } }));
    expect(claims(doc000.access_token).sid).toBe(v1.sessionId);

    for (const token of [from000.access_token, v1.accessToken, doc001.accessToken, doc000.access_token]) {
      expect((await me(token)).status).toBe(200);
      expect((await ok(await call(`/auth/${account.userId}/sessions`, { token }))).data).toHaveLength(1);
    }
  });

  it("a pair from /auth/signin refreshes at /auth/refresh (with its access token) and at /v1/auth/refresh", async () => {
    const account = await verifiedAccount("door001");
    const from001 = (await ok(await call("/auth/signin", { body: { email: account.email, password: account.password } }))).data;
    const doc000 = await ok(await call("/auth/refresh", { body: { access_token: from001.accessToken, refresh_token: from001.refreshToken } }));
    const v1 = await ok(await call("/v1/auth/refresh", { body: { refreshToken: doc000.refresh_token } }));
    expect(v1.sessionId).toBe(from001.sessionId);
    expect((await me(v1.accessToken)).status).toBe(200);
  });

  it("a v1 access token lists and deletes sessions at /auth, and signs out at /auth/signout both ways", async () => {
    const account = await verifiedAccount("doorv1");
    const a = await login(account);
    const b = await login(account);
    const c = await login(account);
    const listed = (await ok(await call(`/auth/${account.userId}/sessions`, { token: a.accessToken }))).data;
    expect(listed.map((s: Json) => s.id).sort()).toEqual([a.sessionId, b.sessionId, c.sessionId].sort());

    await ok(await call(`/auth/${b.sessionId}/sessions`, { method: "DELETE", token: a.accessToken }));
    await expectError(await call("/v1/auth/refresh", { body: { refreshToken: b.refreshToken } }), 401, "invalid_token");

    // Document 000's sign-out of a v1 refresh token, with a v1 access token.
    expect((await call("/auth/signout", { token: a.accessToken, body: { refresh_token: c.refreshToken } })).status).toBe(204);
    await expectError(await call("/v1/auth/refresh", { body: { refreshToken: c.refreshToken } }), 401, "invalid_token");
    // Document 001's sign-out of the current v1 session.
    await ok(await call("/auth/signout", { method: "POST", token: a.accessToken }));
    await expectError(await me(a.accessToken), 401, "invalid_token");
    const { sessions } = await ok(await call("/v1/auth/sessions", { token: (await login(account)).accessToken }));
    expect(sessions).toHaveLength(1);
  });

  it("a session from /auth/login ends when deleted at /v1; a guest from either door upgrades at the other", async () => {
    const account = await verifiedAccount("doorcross");
    const old = await ok(await call("/auth/login", { body: { email: account.email, password: account.password } }));
    const fresh = await login(account);
    expect((await call(`/v1/auth/sessions/${claims(old.access_token).sid}`, { method: "DELETE", token: fresh.accessToken })).status).toBe(204);
    await expectError(await call("/auth/refresh", { body: { access_token: old.access_token, refresh_token: old.refresh_token } }), 401, "invalid_token");

    const guest000 = await ok(await call("/auth/guest", { method: "POST" }));
    const up1 = await ok(
      await call("/v1/auth/upgrade", { token: guest000.access_token, body: { email: uniqueEmail("g0"), username: uniqueUsername("g0"), password: PASSWORD } }),
      201,
    );
    expect(up1.user).toMatchObject({ id: guest000.user.id, isGuest: false });

    const guestV1 = await guest();
    const up0 = await ok(
      await call("/auth/upgrade", { token: guestV1.accessToken, body: { email: uniqueEmail("g1"), username: uniqueUsername("g1"), password: PASSWORD } }),
      201,
    );
    expect(up0.user).toMatchObject({ id: guestV1.user.id, is_guest: false });
    expect((await ok(await call("/v1/auth/refresh", { body: { refreshToken: up0.refresh_token } }))).user.isGuest).toBe(false);
  });

  it("a reset mailed through /v1/auth/forgot-password completes at /auth/password-reset/:email, and the new password signs in at every door", async () => {
    const account = await verifiedAccount("doorreset");
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const password = "door-reset-passphrase-4";
    await ok(await call(`/auth/password-reset/${account.email}`, { body: { password, token } }));
    await ok(await call("/auth/login", { body: { username: account.username, password } }));
    await ok(await call("/auth/signin", { body: { email: account.email, password } }));
    await ok(await call("/v1/auth/login", { body: { email: account.email, password } }));
  });
});

describe("aliases share one rate-limit bucket", () => {
  const sequence = async (steps: [string, Record<string, unknown>][], ip: string) => {
    const result: number[] = [];
    for (const [path, options] of steps) result.push((await call(path, { ip, ...options })).status);
    return result;
  };

  it("login: /auth/login, /auth/signin and /v1/auth/login (5 per minute)", async () => {
    const body = { email: uniqueEmail("nobody"), password: PASSWORD };
    const ip = freshIp();
    const got = await sequence(
      [["/auth/login", { body }], ["/auth/signin", { body }], ["/v1/auth/login", { body }], ["/auth/login", { body }], ["/auth/signin", { body }], ["/v1/auth/login", { body }]],
      ip,
    );
    expect(got).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it("refresh: /auth/refresh, /auth/refresh-token and /v1/auth/refresh (5 per minute)", async () => {
    const refreshToken = "r".repeat(86);
    const g = await guest();
    const got = await sequence(
      [
        ["/auth/refresh", { body: { access_token: g.accessToken, refresh_token: refreshToken } }],
        ["/auth/refresh-token", { body: { refreshToken } }],
        ["/v1/auth/refresh", { body: { refreshToken } }],
        ["/auth/refresh-token", { body: { refreshToken } }],
        ["/v1/auth/refresh", { body: { refreshToken } }],
        ["/auth/refresh", { body: { access_token: g.accessToken, refresh_token: refreshToken } }],
      ],
      freshIp(),
    );
    expect(got).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it("signout: /auth/signout, /v1/auth/revoke and /v1/auth/revoke-all (2 per minute)", async () => {
    const got = await sequence(
      [["/v1/auth/revoke", { body: { refreshToken: "s".repeat(86) } }], ["/auth/signout", { method: "POST" }], ["/v1/auth/revoke-all", { method: "POST" }]],
      freshIp(),
    );
    expect(got).toEqual([204, 401, 429]);
  });

  it("reset: /auth/password-reset/:email, /auth/reset-password and the v1 routes (10 per minute)", async () => {
    const email = uniqueEmail("nobody");
    const body = { email, token: "t".repeat(43), newPassword: "long-enough-pass-1" };
    const steps: [string, Record<string, unknown>][] = [];
    for (let i = 0; i < 2; i++) {
      steps.push(
        [`/auth/password-reset/${email}`, { body: { password: "long-enough-pass-1", token: "t".repeat(43) } }],
        ["/auth/reset-password", { body: { email, oldPassword: PASSWORD, newPassword: "long-enough-pass-1" } }],
        ["/v1/auth/reset-password", { body }],
        ["/v1/auth/change-password", { body: { currentPassword: PASSWORD, newPassword: "long-enough-pass-1" } }],
        ["/v1/auth/verify-email", { body: { token: "t".repeat(43) } }],
      );
    }
    steps.push(["/auth/password-reset/" + email, { body: { password: "long-enough-pass-1", token: "t".repeat(43) } }]);
    const got = await sequence(steps, freshIp());
    expect(got.slice(0, 10).every((s) => s === 400 || s === 401)).toBe(true);
    expect(got[10]).toBe(429);
  });

  it("recovery: /auth/forgot-password, /v1/auth/forgot-password and resend-verification (5 per hour)", async () => {
    const mail = () => ({ body: { email: uniqueEmail("nobody") } });
    const got = await sequence(
      [
        ["/auth/forgot-password", mail()],
        ["/v1/auth/forgot-password", mail()],
        ["/v1/auth/resend-verification", mail()],
        ["/auth/forgot-password", mail()],
        ["/v1/auth/forgot-password", mail()],
        ["/auth/forgot-password", mail()],
      ],
      freshIp(),
    );
    expect(got).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it("upgrade: /auth/upgrade and /v1/auth/upgrade (5 per minute)", async () => {
    const g = await guest();
    const options = { token: g.accessToken, body: {} };
    const got = await sequence(
      [["/auth/upgrade", options], ["/v1/auth/upgrade", options], ["/auth/upgrade", options], ["/v1/auth/upgrade", options], ["/auth/upgrade", options], ["/v1/auth/upgrade", options]],
      freshIp(),
    );
    expect(got).toEqual([400, 400, 400, 400, 400, 429]);
  });
});

describe("/openapi.json", () => {
  it("lists every compatibility route, tagged by its document", async () => {
    const doc = await ok(await call("/openapi.json"));
    const tagsOf = (path: string, method: string) => doc.paths[path]?.[method]?.tags;
    const doc000: [string, string][] = [["/auth/guest", "post"], ["/auth/login", "post"], ["/auth/refresh", "post"], ["/auth/upgrade", "post"]];
    const doc001: [string, string][] = [
      ["/auth/signin", "post"], ["/auth/refresh-token", "post"], ["/auth/forgot-password", "post"], ["/auth/password-reset/{email}", "post"],
      ["/auth/reset-password", "post"], ["/auth/{userId}/sessions", "get"], ["/auth/{sessionId}/sessions", "delete"],
    ];
    for (const [path, method] of doc000) expect(tagsOf(path, method), `${method} ${path}`).toEqual(["doc-000"]);
    for (const [path, method] of doc001) expect(tagsOf(path, method), `${method} ${path}`).toEqual(["doc-001"]);
    expect(tagsOf("/auth/signout", "post")).toEqual(["doc-000", "doc-001"]);
    expect(Object.keys(doc.paths["/auth/signout"].post.responses)).toEqual(expect.arrayContaining(["200", "204", "401", "429"]));
    expect(doc.tags.map((t: Json) => t.name)).toEqual(expect.arrayContaining(["v1", "doc-000", "doc-001"]));
    // The documented shapes are the ones the doors answer.
    expect(Object.keys(doc.components.schemas.TokenResponse.properties).sort()).toEqual(["access_token", "expires_in", "refresh_token", "token_type", "user"]);
    expect(doc.paths["/auth/upgrade"].post.responses["201"]).toBeDefined();
    expect(doc.paths["/auth/{userId}/sessions"].get.security).toEqual([{ bearerAuth: [] }]);
  });
});
