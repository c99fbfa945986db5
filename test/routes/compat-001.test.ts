/**
 * Document 001 (seeds/001), read top to bottom as its reader would, against the /auth door:
 * sign-in, refresh-token, sign-out, forgot-password, password-reset/:email, the authenticated
 * reset-password, and listing and deleting sessions. Every success is the `{ statusCode, message,
 * data? }` envelope (API.md §4); every error the §5 body, which carries statusCode and message too.
 */
import { describe, expect, it, vi } from "vitest";
import {
  PASSWORD, call, claims, expectError, freshIp, json, login, mailbox, mailedToken, statuses, uniqueEmail, verifiedAccount,
} from "../helpers";
import type { Account, Json } from "../helpers";

const TOKEN_PAIR_KEYS = ["aal", "accessToken", "expiresIn", "refreshExpiresIn", "refreshToken", "sessionId", "tokenType", "user"];

/** Asserts the envelope: statusCode 200, a message, and `data` exactly when the route has some. */
async function envelope(response: Response, withData: boolean): Promise<Json> {
  expect(response.status).toBe(200);
  const body = await json(response);
  expect(Object.keys(body).sort()).toEqual(withData ? ["data", "message", "statusCode"] : ["message", "statusCode"]);
  expect(body.statusCode).toBe(200);
  expect(typeof body.message).toBe("string");
  expect(body.message.length).toBeGreaterThan(0);
  return body.data;
}

function expectTokenPair(data: Json, userId: string) {
  expect(Object.keys(data).sort()).toEqual(TOKEN_PAIR_KEYS);
  expect(data).toMatchObject({ tokenType: "Bearer", expiresIn: 3600, refreshExpiresIn: 30 * 86_400 });
  expect(data.user.id).toBe(userId);
  expect(claims(data.accessToken)).toMatchObject({ sub: userId, sid: data.sessionId });
}

async function signin(account: Pick<Account, "email" | "password">): Promise<Json> {
  return envelope(await call("/auth/signin", { body: { email: account.email, password: account.password } }), true);
}

const me = (token: string) => call("/v1/auth/me", { token });

async function expectRateLimited(response: Response, limit: number) {
  await expectError(response, 429, "rate_limited");
  expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(response.headers.get("ratelimit-limit")).toBe(String(limit));
}

describe("document 001: POST /auth/signin", () => {
  it("authenticates with email (whitespace stripped) and password and returns the tokens", async () => {
    const account = await verifiedAccount("signin");
    const data = await envelope(await call("/auth/signin", { body: { email: `  ${account.email.toUpperCase()} `, password: account.password } }), true);
    expectTokenPair(data, account.userId);
    expect(data.user).toMatchObject({ email: account.email, isGuest: false, emailVerified: true });
    expect((await me(data.accessToken)).status).toBe(200);
  });

  it("400 when the body is missing or malformed, or the email is not an email", async () => {
    for (const response of [
      await call("/auth/signin", { method: "POST" }),
      await call("/auth/signin", { rawBody: "{\"email\":", headers: { "content-type": "application/json" } }),
      await call("/auth/signin", { body: { email: "not-an-email", password: PASSWORD } }),
      await call("/auth/signin", { body: { email: uniqueEmail() } }),
    ]) {
      const body = await expectError(response, 400, "invalid_request");
      expect(body.details.length).toBeGreaterThan(0);
    }
  });

  it("401 when the email or password is incorrect, or the email is not verified", async () => {
    const account = await verifiedAccount("signinbad");
    await expectError(await call("/auth/signin", { body: { email: account.email, password: "wrong-password-77" } }), 401, "invalid_credentials");
    await expectError(await call("/auth/signin", { body: { email: uniqueEmail("ghost"), password: PASSWORD } }), 401, "invalid_credentials");
    const email = uniqueEmail("unverified1");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    const unverified = await call("/auth/signin", { body: { email, password: PASSWORD } });
    await expectError(unverified, 401, "email_not_verified");
    expect(unverified.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("shares the login limit (5 per minute per IP)", async () => {
    const ip = freshIp();
    const body = { email: uniqueEmail("nobody"), password: PASSWORD };
    expect(await statuses(5, "/auth/signin", { ip, body })).toEqual([401, 401, 401, 401, 401]);
    await expectRateLimited(await call("/auth/signin", { ip, body }), 5);
  });
});

describe("document 001: POST /auth/refresh-token", () => {
  it("generates a new access token from a valid refresh token", async () => {
    const account = await verifiedAccount("refresh1");
    const first = await signin(account);
    const data = await envelope(await call("/auth/refresh-token", { body: { refreshToken: first.refreshToken } }), true);
    expectTokenPair(data, account.userId);
    expect(data.sessionId).toBe(first.sessionId);
    expect(data.refreshToken).not.toBe(first.refreshToken);
    expect((await me(data.accessToken)).status).toBe(200);
  });

  it("400 without a refresh token, 401 for an unknown or revoked one", async () => {
    await expectError(await call("/auth/refresh-token", { body: {} }), 400, "invalid_request");
    await expectError(await call("/auth/refresh-token", { body: { refreshToken: "x".repeat(86) } }), 401, "invalid_token");
    const account = await verifiedAccount("refresh1bad");
    const data = await signin(account);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: data.refreshToken } })).status).toBe(204);
    await expectError(await call("/auth/refresh-token", { body: { refreshToken: data.refreshToken } }), 401, "invalid_token");
  });

  it("shares the refresh limit (5 per minute per IP)", async () => {
    const ip = freshIp();
    const body = { refreshToken: "y".repeat(86) };
    expect(await statuses(5, "/auth/refresh-token", { ip, body })).toEqual([401, 401, 401, 401, 401]);
    await expectRateLimited(await call("/auth/refresh-token", { ip, body }), 5);
  });
});

describe("document 001: POST /auth/signout", () => {
  it("invalidates the current session when no sessionIds are given", async () => {
    const account = await verifiedAccount("signout1");
    const current = await signin(account);
    const other = await signin(account);
    await envelope(await call("/auth/signout", { method: "POST", token: current.accessToken }), false);
    await expectError(await me(current.accessToken), 401, "invalid_token");
    await expectError(await call("/auth/refresh-token", { body: { refreshToken: current.refreshToken } }), 401, "invalid_token");
    expect((await me(other.accessToken)).status).toBe(200);
    // An empty JSON object is the same as no body.
    const third = await signin(account);
    await envelope(await call("/auth/signout", { token: third.accessToken, body: {} }), false);
    await expectError(await me(third.accessToken), 401, "invalid_token");
  });

  it("invalidates the listed sessions of the caller only", async () => {
    const account = await verifiedAccount("signout1ids");
    const [a, b, c] = [await signin(account), await signin(account), await signin(account)];
    const stranger = await signin(await verifiedAccount("stranger1"));
    await envelope(await call("/auth/signout", { token: a.accessToken, body: { sessionIds: [b.sessionId, c.sessionId, stranger.sessionId] } }), false);
    await expectError(await me(b.accessToken), 401, "invalid_token");
    await expectError(await me(c.accessToken), 401, "invalid_token");
    expect((await me(a.accessToken)).status).toBe(200);
    expect((await me(stranger.accessToken)).status).toBe(200);
    // snake_case works as well.
    const d = await signin(account);
    await envelope(await call("/auth/signout", { token: a.accessToken, body: { session_ids: [d.sessionId] } }), false);
    await expectError(await me(d.accessToken), 401, "invalid_token");
  });

  it("requires a valid Bearer token and well-formed session ids", async () => {
    await expectError(await call("/auth/signout", { method: "POST" }), 401, "invalid_token");
    const account = await verifiedAccount("signout1bad");
    const data = await signin(account);
    const bad = await expectError(await call("/auth/signout", { token: data.accessToken, body: { sessionIds: ["nope"] } }), 400, "invalid_request");
    expect(bad.details[0].field).toMatch(/^sessionIds/);
    await expectError(await call("/auth/signout", { token: data.accessToken, body: { sessionIds: [] } }), 400, "invalid_request");
    expect((await me(data.accessToken)).status).toBe(200);
  });

  it("shares the sign-out limit (2 per minute per IP)", async () => {
    const ip = freshIp();
    expect(await statuses(2, "/auth/signout", { ip, method: "POST" })).toEqual([401, 401]);
    await expectRateLimited(await call("/auth/signout", { ip, method: "POST" }), 2);
  });
});

describe("document 001: POST /auth/forgot-password and POST /auth/password-reset/:email", () => {
  it("the same answer whether or not the account exists; the mail holds a single-use link", async () => {
    const account = await verifiedAccount("forgot1");
    const known = await call("/auth/forgot-password", { body: { email: account.email } });
    const unknown = await call("/auth/forgot-password", { body: { email: uniqueEmail("nobody") } });
    const knownBody = await envelope(known.clone(), false);
    expect(knownBody).toBeUndefined();
    expect(await json(known)).toEqual(await json(unknown));
    expect(unknown.status).toBe(200);

    // The second message: the first was the verification mail.
    const token = await mailedToken(account.email, "/reset-password", 2);
    const newPassword = "a-brand-new-passphrase-9";
    const data = await envelope(
      await call(`/auth/password-reset/${encodeURIComponent(account.email)}`, { body: { password: newPassword, token } }),
      true,
    );
    expect(data.user).toMatchObject({ id: account.userId, email: account.email });
    await expectError(await call("/auth/signin", { body: { email: account.email, password: PASSWORD } }), 401, "invalid_credentials");
    expect((await signin({ email: account.email, password: newPassword })).user.id).toBe(account.userId);
    // Single use.
    await expectError(
      await call(`/auth/password-reset/${encodeURIComponent(account.email)}`, { body: { password: "yet-another-passphrase-3", token } }),
      400,
      "invalid_request",
    );
  });

  it("the reset ends every session", async () => {
    const account = await verifiedAccount("forgot1sess");
    const before = await signin(account);
    expect((await call("/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    await envelope(await call(`/auth/password-reset/${account.email}`, { body: { password: "fresh-start-passphrase-5", token } }), true);
    await expectError(await me(before.accessToken), 401, "invalid_token");
    await expectError(await call("/auth/refresh-token", { body: { refreshToken: before.refreshToken } }), 401, "invalid_token");
  });

  it("honours logoUrl, platformName, baseUrl and clientAlias, and refuses unsafe ones", async () => {
    const account = await verifiedAccount("forgot1opts");
    await envelope(
      await call("/auth/forgot-password", {
        body: { email: account.email, logoUrl: "https://example.com/logo.png", platformName: "Drssed <b>", clientAlias: "VERIFIER" },
      }),
      false,
    );
    const [mail] = await mailbox(account.email, 2);
    expect(mail!.text).toContain("https://verifier.example.com/account/reset-password?");
    expect(mail!.html).toContain("https://example.com/logo.png");
    expect(mail!.html).not.toContain("Drssed <b>");

    await envelope(await call("/auth/forgot-password", { body: { email: account.email, base_url: "https://app.example.com" } }), false);
    const messages = await mailbox(account.email, 3);
    expect(messages[0]!.text).toContain("https://app.example.com/reset-password?");

    for (const [field, body] of [
      ["logoUrl", { email: account.email, logoUrl: "example.com/logo.png" }],
      ["logoUrl", { email: account.email, logoUrl: "https://localhost/logo.png" }],
      ["baseUrl", { email: account.email, baseUrl: "https://evil.example.net" }],
      ["clientAlias", { email: account.email, clientAlias: "NOPE" }],
      ["email", { email: "not-an-email" }],
    ] as const) {
      const error = await expectError(await call("/auth/forgot-password", { body }), 400, "invalid_request");
      expect(error.details[0].field).toBe(field);
    }
  });

  it("password-reset refuses a wrong token, another email, a weak password and a path that is not an email", async () => {
    const account = await verifiedAccount("reset1bad");
    expect((await call("/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const other = uniqueEmail("other");
    await expectError(await call(`/auth/password-reset/${other}`, { body: { password: "fine-passphrase-11", token: "z".repeat(43) } }), 400, "invalid_request");
    await expectError(await call(`/auth/password-reset/${account.email}`, { body: { password: "password", token } }), 400, "invalid_request");
    await expectError(await call("/auth/password-reset/not-an-email", { body: { password: "fine-passphrase-11", token } }), 400, "invalid_request");
    await expectError(await call(`/auth/password-reset/${account.email}`, { body: { token } }), 400, "invalid_request");
    // The token survived the refusals above and still works for its own address.
    await envelope(await call(`/auth/password-reset/${account.email}`, { body: { password: "fine-passphrase-11", token } }), true);
  });

  it("no log line names the email in the path, the token or the password", async () => {
    const account = await verifiedAccount("reset1log");
    expect((await call("/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const password = "quiet-log-passphrase-6";
    const lines: string[] = [];
    const spies = (["log", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" "))),
    );
    try {
      await envelope(await call(`/auth/password-reset/${account.email}`, { body: { password, token } }), true);
      await expectError(await call(`/auth/password-reset/${account.email}`, { body: { password, token } }), 400, "invalid_request");
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const logged = lines.join("\n");
    expect(logged).toContain("/auth/password-reset/:email");
    for (const secret of [account.email, account.email.split("@")[0]!, token, password]) expect(logged).not.toContain(secret);
  });

  it("forgot-password shares the recovery limits (5 per hour per IP, 3 per hour per address)", async () => {
    const ip = freshIp();
    const emails = Array.from({ length: 5 }, () => uniqueEmail("limit"));
    for (const email of emails) expect((await call("/auth/forgot-password", { ip, body: { email } })).status).toBe(200);
    await expectRateLimited(await call("/auth/forgot-password", { ip, body: { email: uniqueEmail() } }), 5);

    const email = uniqueEmail("peraddress");
    expect(await statuses(3, "/auth/forgot-password", { body: { email } })).toEqual([200, 200, 200]);
    await expectError(await call("/auth/forgot-password", { body: { email } }), 429, "rate_limited");
  });

  it("password-reset shares the reset limit (10 per minute per IP)", async () => {
    const ip = freshIp();
    const path = `/auth/password-reset/${uniqueEmail()}`;
    const body = { password: "fine-passphrase-11", token: "q".repeat(43) };
    expect(new Set(await statuses(10, path, { ip, body }))).toEqual(new Set([400]));
    await expectRateLimited(await call(path, { ip, body }), 10);
  });
});

describe("document 001: POST /auth/reset-password (authenticated)", () => {
  it("changes the password given the email, the current password and a different new one", async () => {
    const account = await verifiedAccount("change1");
    const data = await signin(account);
    const newPassword = "changed-passphrase-21";
    const result = await envelope(
      await call("/auth/reset-password", { token: data.accessToken, body: { email: account.email, oldPassword: PASSWORD, newPassword } }),
      true,
    );
    expect(result.user.id).toBe(account.userId);
    await expectError(await call("/auth/signin", { body: { email: account.email, password: PASSWORD } }), 401, "invalid_credentials");
    expect((await signin({ email: account.email, password: newPassword })).user.id).toBe(account.userId);
  });

  it("refuses the same password (400), a wrong current one (401), another email (403) and no token (401)", async () => {
    const account = await verifiedAccount("change1bad");
    const data = await signin(account);
    const reset = (body: object, token: string | undefined = data.accessToken) =>
      call("/auth/reset-password", { ...(token ? { token } : {}), body });
    const same = await expectError(await reset({ email: account.email, oldPassword: PASSWORD, newPassword: PASSWORD }), 400, "invalid_request");
    expect(same.details[0].field).toBe("newPassword");
    await expectError(await reset({ email: account.email, oldPassword: "wrong-passphrase-1", newPassword: "new-passphrase-31" }), 401, "invalid_credentials");
    await expectError(await reset({ email: uniqueEmail(), oldPassword: PASSWORD, newPassword: "new-passphrase-31" }), 403, "forbidden");
    await expectError(await reset({ email: account.email, old_password: PASSWORD }), 400, "invalid_request");
    await expectError(await reset({ email: account.email, oldPassword: PASSWORD, newPassword: "new-passphrase-31" }, ""), 401, "invalid_token");
    // Nothing changed.
    expect((await signin(account)).user.id).toBe(account.userId);
  });
});

describe("document 001: GET /auth/:userId/sessions and DELETE /auth/:sessionId/sessions", () => {
  it("lists the caller's active sessions", async () => {
    const account = await verifiedAccount("list1");
    const a = await signin(account);
    const b = await signin(account);
    const data = await envelope(await call(`/auth/${account.userId}/sessions`, { token: a.accessToken }), true);
    expect(data.map((s: Json) => s.id).sort()).toEqual([a.sessionId, b.sessionId].sort());
    const current = data.find((s: Json) => s.id === a.sessionId);
    expect(current).toMatchObject({ current: true, expiresAt: expect.any(String), createdAt: expect.any(String), lastUsedAt: expect.any(String) });
    expect(data.find((s: Json) => s.id === b.sessionId).current).toBe(false);
  });

  it("403 for another user's sessions, 400 for an id that is not a UUID, 401 without a token", async () => {
    const account = await verifiedAccount("list1bad");
    const data = await signin(account);
    const other = await verifiedAccount("list1other");
    await expectError(await call(`/auth/${other.userId}/sessions`, { token: data.accessToken }), 403, "forbidden");
    await expectError(await call("/auth/not-a-uuid/sessions", { token: data.accessToken }), 400, "invalid_request");
    const anonymous = await call(`/auth/${account.userId}/sessions`);
    await expectError(anonymous, 401, "invalid_token");
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("deletes one of the caller's sessions", async () => {
    const account = await verifiedAccount("delete1");
    const a = await signin(account);
    const b = await signin(account);
    await envelope(await call(`/auth/${b.sessionId}/sessions`, { method: "DELETE", token: a.accessToken }), false);
    await expectError(await me(b.accessToken), 401, "invalid_token");
    await expectError(await call("/auth/refresh-token", { body: { refreshToken: b.refreshToken } }), 401, "invalid_token");
    const left = await envelope(await call(`/auth/${account.userId}/sessions`, { token: a.accessToken }), true);
    expect(left.map((s: Json) => s.id)).toEqual([a.sessionId]);
  });

  it("400 not a UUID, 401 no token, 403 not yours, 404 unknown or already deleted", async () => {
    const account = await verifiedAccount("delete1bad");
    const a = await signin(account);
    const b = await signin(account);
    const stranger = await signin(await verifiedAccount("delete1other"));
    const del = (id: string, token?: string) => call(`/auth/${id}/sessions`, { method: "DELETE", ...(token ? { token } : {}) });
    await expectError(await del("not-a-uuid", a.accessToken), 400, "invalid_request");
    await expectError(await del(b.sessionId), 401, "invalid_token");
    await expectError(await del(stranger.sessionId, a.accessToken), 403, "forbidden");
    await expectError(await del(crypto.randomUUID(), a.accessToken), 404, "not_found");
    expect((await me(stranger.accessToken)).status).toBe(200);
    await envelope(await del(b.sessionId, a.accessToken), false);
    await expectError(await del(b.sessionId, a.accessToken), 404, "not_found");
  });

  it("listing and deleting share the sessions limit (60 per minute per IP)", async () => {
    const account = await verifiedAccount("sessions1rate");
    const { accessToken } = await login(account);
    const ip = freshIp();
    const listed = await statuses(40, `/auth/${account.userId}/sessions`, { ip, token: accessToken });
    const deleted = await statuses(20, `/auth/${crypto.randomUUID()}/sessions`, { ip, method: "DELETE", token: accessToken });
    expect(new Set(listed)).toEqual(new Set([200]));
    expect(new Set(deleted)).toEqual(new Set([404]));
    await expectRateLimited(await call(`/auth/${account.userId}/sessions`, { ip, token: accessToken }), 60);
    await expectRateLimited(await call("/v1/auth/sessions", { ip, token: accessToken }), 60);
  });
});
