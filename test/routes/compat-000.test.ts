/**
 * Document 000 (seeds/000), read top to bottom as its reader would, against the /auth door:
 * guest sessions, full-account login, using the token, refreshing, signing out, upgrading, the
 * error table and every rate limit it names. Shapes per API.md §4 (snake_case TokenResponse).
 */
import { describe, expect, it } from "vitest";
import {
  PASSWORD, accessClaims, call, claims, expectError, expiredAccessToken, forgeAccessToken, freshIp, json, mailedToken,
  serviceSigningKey, signToken, statuses, uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import type { Account, Json } from "../helpers";

const TOKEN_RESPONSE_KEYS = ["access_token", "expires_in", "refresh_token", "token_type", "user"];
const USER_KEYS = ["created_at", "email", "email_verified", "id", "is_guest", "profile_picture", "username"];
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

/** Asserts the document's TokenResponse exactly: these keys, snake_case, nothing camelCase. */
function expectTokenResponse(body: Json) {
  expect(Object.keys(body).sort()).toEqual(TOKEN_RESPONSE_KEYS);
  expect(Object.keys(body.user).sort()).toEqual(USER_KEYS);
  expect(body.token_type).toBe("Bearer");
  expect(body.expires_in).toBe(3600);
  expect(body.access_token.split(".")).toHaveLength(3);
  expect(body.refresh_token.length).toBeGreaterThanOrEqual(43);
  expect(claims(body.access_token).sub).toBe(body.user.id);
}

async function guest000(ip?: string): Promise<Json> {
  const response = await call("/auth/guest", { method: "POST", ...(ip ? { ip } : {}) });
  expect(response.status).toBe(200);
  return json(response);
}

async function login000(account: Pick<Account, "email" | "password">): Promise<Json> {
  const response = await call("/auth/login", { body: { email: account.email, password: account.password } });
  expect(response.status).toBe(200);
  return json(response);
}

const me = (token: string) => call("/v1/auth/me", { token });
const refresh000 = (access_token: string, refresh_token: string, ip?: string) =>
  call("/auth/refresh", { body: { access_token, refresh_token }, ...(ip ? { ip } : {}) });

async function expectRateLimited(response: Response, limit: number) {
  await expectError(response, 429, "rate_limited");
  expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(response.headers.get("ratelimit-limit")).toBe(String(limit));
  expect(response.headers.get("ratelimit-remaining")).toBe("0");
}

describe("document 000: guest sessions", () => {
  it("POST /auth/guest with no body answers an access_token, its expiry and a refresh_token", async () => {
    const response = await call("/auth/guest", { method: "POST" });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = await json(response);
    expectTokenResponse(body);
    expect(body.user).toMatchObject({ is_guest: true, email: null, username: null, email_verified: false, profile_picture: null });
    expect(claims(body.access_token).role).toBe("guest");
    expect((await me(body.access_token)).status).toBe(200);
  });

  it("a guest's refresh token has no expiry", async () => {
    const g = await guest000();
    const { sessions } = await json(await call("/v1/auth/sessions", { token: g.access_token }));
    expect(sessions).toHaveLength(1);
    expect(sessions[0].expiresAt).toBeNull();
  });

  it("is limited to 5 per hour per IP address, in the bucket /v1/auth/guest shares", async () => {
    const ip = freshIp();
    expect(await statuses(3, "/auth/guest", { method: "POST", ip })).toEqual([200, 200, 200]);
    expect(await statuses(2, "/v1/auth/guest", { method: "POST", ip })).toEqual([200, 200]);
    await expectRateLimited(await call("/auth/guest", { method: "POST", ip }), 5);
    expect(Number((await call("/auth/guest", { method: "POST", ip })).headers.get("retry-after"))).toBeGreaterThan(60);
    // Another address is unaffected.
    expect((await call("/auth/guest", { method: "POST" })).status).toBe(200);
  });

  it("a user holds at most 5 active refresh tokens; the sixth revokes the oldest", async () => {
    const account = await verifiedAccount("five");
    const pairs: Json[] = [];
    for (let i = 0; i < 6; i++) pairs.push(await login000(account));
    await expectError(await refresh000(pairs[0].access_token, pairs[0].refresh_token), 401, "invalid_token");
    await expectError(await me(pairs[0].access_token), 401, "invalid_token");
    const { sessions } = await json(await call("/v1/auth/sessions", { token: pairs[5].access_token }));
    expect(sessions).toHaveLength(5);
    expect((await refresh000(pairs[1].access_token, pairs[1].refresh_token)).status).toBe(200);
  });
});

describe("document 000: full accounts", () => {
  it("POST /auth/login takes email or username with password", async () => {
    const account = await verifiedAccount("login0");
    const byEmail = await json(await call("/auth/login", { body: { email: account.email, password: account.password } }));
    expectTokenResponse(byEmail);
    expect(byEmail.user).toMatchObject({ id: account.userId, email: account.email, username: account.username, is_guest: false, email_verified: true });
    expect(claims(byEmail.access_token).role).toBe("user");

    const byUsername = await call("/auth/login", { body: { username: account.username, password: account.password } });
    expect(byUsername.status).toBe(200);
    const body = await json(byUsername);
    expectTokenResponse(body);
    expect(body.user.id).toBe(account.userId);
    expect(body.refresh_token).not.toBe(byEmail.refresh_token);
  });

  it("refuses a wrong password, an unverified email and a body without an identifier", async () => {
    const account = await verifiedAccount("login0bad");
    const wrong = await call("/auth/login", { body: { email: account.email, password: "not-the-password-1" } });
    await expectError(wrong, 401, "invalid_credentials");
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectError(await call("/auth/login", { body: { username: "nobody_here", password: PASSWORD } }), 401, "invalid_credentials");

    const email = uniqueEmail("unverified0");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    await expectError(await call("/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");

    const missing = await expectError(await call("/auth/login", { body: { password: PASSWORD } }), 400, "invalid_request");
    expect(missing.details.map((d: Json) => d.field)).toContain("email");
    await expectError(await call("/auth/login", { rawBody: "{", headers: { "content-type": "application/json" } }), 400, "invalid_request");
  });

  it("is limited to 5 per minute per IP address", async () => {
    const account = await verifiedAccount("login0rate");
    const ip = freshIp();
    const body = { email: account.email, password: account.password };
    expect(await statuses(5, "/auth/login", { body, ip })).toEqual([200, 200, 200, 200, 200]);
    await expectRateLimited(await call("/auth/login", { body, ip }), 5);
  });
});

describe("document 000: including and refreshing the token", () => {
  it("the access token goes in the Authorization header with the Bearer scheme", async () => {
    const g = await guest000();
    expect((await me(g.access_token)).status).toBe(200);
    const bare = await call("/v1/auth/me", { headers: { authorization: g.access_token } });
    await expectError(bare, 401, "invalid_token");
    expect(bare.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("POST /auth/refresh takes the expired access_token and the valid refresh_token", async () => {
    const account = await verifiedAccount("refresh0");
    const pair = await login000(account);
    const expired = await expiredAccessToken(pair.access_token);
    await expectError(await me(expired), 401, "invalid_token");

    const response = await refresh000(expired, pair.refresh_token);
    expect(response.status).toBe(200);
    const next = await json(response);
    expectTokenResponse(next);
    expect(next.user.id).toBe(account.userId);
    expect(next.refresh_token).not.toBe(pair.refresh_token);
    expect(claims(next.access_token).sid).toBe(claims(pair.access_token).sid);
    expect((await me(next.access_token)).status).toBe(200);
    // A still-valid access token is accepted as well, and the rotated token goes on rotating.
    expect((await refresh000(next.access_token, next.refresh_token)).status).toBe(200);
  });

  it("refuses an access token of another session, a forged one, and a missing one", async () => {
    const account = await verifiedAccount("refresh0bad");
    const a = await login000(account);
    const b = await login000(account);
    const other = await expectError(await refresh000(b.access_token, a.refresh_token), 401, "invalid_token");
    expect(other.message).not.toContain(a.refresh_token);

    // Right claims, but signed with a key the service does not hold.
    const foreignKey = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])) as CryptoKeyPair;
    const { kid } = await serviceSigningKey();
    const c = claims(a.access_token);
    const forged = await signToken({ alg: "ES256", kid, typ: "JWT" }, accessClaims({ userId: c.sub, sessionId: c.sid, role: "user" }), foreignKey.privateKey);
    await expectError(await refresh000(forged, a.refresh_token), 401, "invalid_token");
    // Validly signed, but naming another user for this session.
    const wrongUser = await forgeAccessToken({ userId: crypto.randomUUID(), sessionId: c.sid, role: "user" });
    await expectError(await refresh000(wrongUser, a.refresh_token), 401, "invalid_token");

    const missing = await expectError(await call("/auth/refresh", { body: { refresh_token: a.refresh_token } }), 400, "invalid_request");
    expect(missing.details).toEqual([{ field: "access_token", message: "is required" }]);
    await expectError(await refresh000(a.access_token, "not-a-refresh-token"), 401, "invalid_token");
    // None of the refused attempts spent the refresh token.
    expect((await refresh000(a.access_token, a.refresh_token)).status).toBe(200);
  });

  it("is limited to 5 per minute per IP address", async () => {
    const g = await guest000();
    const ip = freshIp();
    let pair = g;
    for (let i = 0; i < 5; i++) {
      const response = await refresh000(pair.access_token, pair.refresh_token, ip);
      expect(response.status).toBe(200);
      pair = await json(response);
    }
    await expectRateLimited(await refresh000(pair.access_token, pair.refresh_token, ip), 5);
  });
});

describe("document 000: signing out", () => {
  it("POST /auth/signout with the refresh_token and a valid Authorization header answers 204 and ends the session", async () => {
    const account = await verifiedAccount("signout0");
    const pair = await login000(account);
    const keep = await login000(account);
    const response = await call("/auth/signout", { token: pair.access_token, body: { refresh_token: pair.refresh_token } });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    await expectError(await refresh000(pair.access_token, pair.refresh_token), 401, "invalid_token");
    await expectError(await me(pair.access_token), 401, "invalid_token");
    // Only that session: the user's other session lives on.
    expect((await me(keep.access_token)).status).toBe(200);
  });

  it("requires the Authorization header, and the token must be the caller's", async () => {
    const mine = await guest000();
    const theirs = await guest000();
    await expectError(await call("/auth/signout", { body: { refresh_token: mine.refresh_token } }), 401, "invalid_token");
    await expectError(
      await call("/auth/signout", { token: mine.access_token, body: { refresh_token: theirs.refresh_token } }),
      403,
      "forbidden",
    );
    // Neither refusal ended a session.
    expect((await me(mine.access_token)).status).toBe(200);
    expect((await me(theirs.access_token)).status).toBe(200);
  });

  it("is limited to 2 per minute per IP address", async () => {
    const ip = freshIp();
    const [a, b, c] = [await guest000(), await guest000(), await guest000()];
    expect((await call("/auth/signout", { ip, token: a.access_token, body: { refresh_token: a.refresh_token } })).status).toBe(204);
    expect((await call("/auth/signout", { ip, token: b.access_token, body: { refresh_token: b.refresh_token } })).status).toBe(204);
    await expectRateLimited(await call("/auth/signout", { ip, token: c.access_token, body: { refresh_token: c.refresh_token } }), 2);
    expect((await me(c.access_token)).status).toBe(200);
  });
});

describe("document 000: upgrading a guest account", () => {
  it("POST /auth/upgrade as the guest with email, username and password answers 201 and keeps the user id", async () => {
    const g = await guest000();
    const email = uniqueEmail("up0");
    const username = uniqueUsername("up0");
    const response = await call("/auth/upgrade", {
      token: g.access_token,
      body: { email, username, password: PASSWORD, profile_picture: "https://cdn.example.com/me.png" },
    });
    expect(response.status).toBe(201);
    const body = await json(response);
    expectTokenResponse(body);
    expect(body.user).toMatchObject({
      id: g.user.id, is_guest: false, email, username, email_verified: false, profile_picture: "https://cdn.example.com/me.png",
    });
    expect(claims(body.access_token).role).toBe("user");
    expect((await json(await me(body.access_token))).user.isGuest).toBe(false);
    // Once the mailed link confirms the address, the new credentials sign in, by username too.
    const token = await mailedToken(email, "/verify-email");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    const again = await json(await call("/auth/login", { body: { username, password: PASSWORD } }));
    expect(again.user.id).toBe(g.user.id);
  });

  it("profile_picture is optional, and may be an uploaded image", async () => {
    const plain = await guest000();
    const bare = await call("/auth/upgrade", {
      token: plain.access_token,
      body: { email: uniqueEmail("up0b"), username: uniqueUsername("up0b"), password: PASSWORD },
    });
    expect(bare.status).toBe(201);
    expect((await json(bare)).user.profile_picture).toBeNull();

    const g = await guest000();
    const form = new FormData();
    form.append("email", uniqueEmail("up0f"));
    form.append("username", uniqueUsername("up0f"));
    form.append("password", PASSWORD);
    form.append("profile_picture", new File([PNG], "me.png", { type: "image/png" }));
    const response = await call("/auth/upgrade", { token: g.access_token, rawBody: form });
    expect(response.status).toBe(201);
    const body = await json(response);
    expect(body.user.profile_picture).toMatch(/^http:\/\/auth\.test\/v1\/auth\/avatars\/[0-9a-f-]{36}\.png$/);
    const served = await call(new URL(body.user.profile_picture).pathname);
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(PNG);
  });

  it("refuses a full account (403), a taken email (409), a bad body (400) and no token (401)", async () => {
    const account = await verifiedAccount("up0full");
    const full = await login000(account);
    const fields = () => ({ email: uniqueEmail("up0x"), username: uniqueUsername("up0x"), password: PASSWORD });
    await expectError(await call("/auth/upgrade", { token: full.access_token, body: fields() }), 403, "forbidden");
    const g = await guest000();
    await expectError(await call("/auth/upgrade", { token: g.access_token, body: { ...fields(), email: account.email } }), 409, "conflict");
    const bad = await expectError(await call("/auth/upgrade", { token: g.access_token, body: { email: "nope", password: PASSWORD } }), 400, "invalid_request");
    expect(bad.details.map((d: Json) => d.field).sort()).toEqual(["email", "username"]);
    await expectError(await call("/auth/upgrade", { token: g.access_token, body: { ...fields(), password: "password" } }), 400, "invalid_request");
    await expectError(await call("/auth/upgrade", { body: fields() }), 401, "invalid_token");
    // Still a guest after every refusal.
    expect((await json(await me(g.access_token))).user.isGuest).toBe(true);
  });

  it("is limited to 5 per minute per IP address", async () => {
    const ip = freshIp();
    const g = await guest000();
    // Refused bodies count too: the limit is on attempts.
    expect(await statuses(5, "/auth/upgrade", { ip, token: g.access_token, body: {} })).toEqual([400, 400, 400, 400, 400]);
    const body = { email: uniqueEmail("up0r"), username: uniqueUsername("up0r"), password: PASSWORD };
    await expectRateLimited(await call("/auth/upgrade", { ip, token: g.access_token, body }), 5);
    expect((await call("/auth/upgrade", { token: g.access_token, body })).status).toBe(201);
  });
});

describe("document 000: error responses", () => {
  it("401 for no Authorization header, a malformed token and an expired token not yet refreshed", async () => {
    const g = await guest000();
    for (const response of [
      await call("/auth/signout", { body: { refresh_token: g.refresh_token } }),
      await call("/auth/signout", { token: "not.a.jwt", body: { refresh_token: g.refresh_token } }),
      await call("/auth/signout", { token: await expiredAccessToken(g.access_token), body: { refresh_token: g.refresh_token } }),
    ]) {
      await expectError(response, 401, "invalid_token");
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("errors are JSON and name no secret", async () => {
    const g = await guest000();
    const response = await call("/auth/refresh", { body: { access_token: g.access_token, refresh_token: `${g.refresh_token}x` } });
    const text = await response.clone().text();
    await expectError(response, 401, "invalid_token");
    expect(text).not.toContain(g.refresh_token);
    expect(text).not.toContain(g.access_token);
  });
});

describe("§4 document 000 login", () => {
  // API.md §4: "POST /auth/login | (email or username), password | 200 TokenResponse", and
  // "a client written against any of the three documents works unchanged". Seed 000: "You do not
  // need to supply both email and username — either one is sufficient."
  it("POST /auth/login with both email and username (of the same account) signs in", async () => {
    const account = await verifiedAccount("both000");
    const response = await call("/auth/login", {
      body: { email: account.email, username: account.username, password: account.password },
    });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
  });
});
