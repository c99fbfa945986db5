/**
 * Document 002 (seeds/002), its recommended flow against /v1 as its reader would follow it:
 * login → use the API → 401 → refresh → use again → refresh also 401 → re-login; then its security
 * practices (decode `exp`, revoke on logout, revoke-all) and its FAQ answers.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, expectError, expiredAccessToken, json, verifiedAccount } from "../helpers";
import type { Account, Json } from "../helpers";

async function loginV1(account: Account): Promise<Json> {
  const response = await call("/v1/auth/login", { body: { email: account.email, password: account.password } });
  expect(response.status).toBe(200);
  return json(response);
}

const useApi = (accessToken: string) => call("/v1/auth/me", { token: accessToken });
const refresh = (refreshToken: string) => call("/v1/auth/refresh", { body: { refreshToken } });

describe("document 002: the recommended flow", () => {
  it("login, use, 401, refresh, use, refresh also 401, re-login", async () => {
    const account = await verifiedAccount("flow");

    // 1. Login: both tokens.
    const first = await loginV1(account);
    expect(first).toMatchObject({ tokenType: "Bearer", expiresIn: 3600, accessToken: expect.any(String), refreshToken: expect.any(String) });

    // 2. Use the access token on every request.
    const used = await useApi(first.accessToken);
    expect(used.status).toBe(200);
    expect((await json(used)).user.id).toBe(account.userId);

    // 3. Handle expiration: the client now holds an expired access token, and gets a 401 …
    const stale = await expiredAccessToken(first.accessToken);
    const rejected = await useApi(stale);
    await expectError(rejected, 401, "invalid_token");
    expect(rejected.headers.get("www-authenticate")).toMatch(/^Bearer/);

    // … so it refreshes, and carries on with the new access token.
    const refreshed = await refresh(first.refreshToken);
    expect(refreshed.status).toBe(200);
    const second = await json(refreshed);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.sessionId).toBe(first.sessionId);
    expect((await useApi(second.accessToken)).status).toBe(200);

    // 4. The refresh token is revoked (here: the user logs out elsewhere); refresh answers 401 too …
    expect((await call("/v1/auth/revoke", { body: { refreshToken: second.refreshToken } })).status).toBe(204);
    await expectError(await useApi(second.accessToken), 401, "invalid_token");
    const refused = await refresh(second.refreshToken);
    await expectError(refused, 401, "invalid_token");

    // … so it logs in again and gets a fresh pair for a new session.
    const third = await loginV1(account);
    expect(third.sessionId).not.toBe(first.sessionId);
    expect((await useApi(third.accessToken)).status).toBe(200);
    expect((await refresh(third.refreshToken)).status).toBe(200);
  });

  it("refresh proactively: the JWT's exp says when it expires (60 minutes), and a refresh before then works", async () => {
    const account = await verifiedAccount("proactive");
    const pair = await loginV1(account);
    const { exp, iat } = claims(pair.accessToken);
    expect(exp - iat).toBe(3600);
    expect(exp * 1000).toBeGreaterThan(Date.now());
    // FAQ: refresh tokens last 30 days.
    expect(pair.refreshExpiresIn).toBe(30 * 86_400);
    const next = await json(await refresh(pair.refreshToken));
    expect(claims(next.accessToken).exp).toBeGreaterThanOrEqual(exp);
  });

  it("the same access token can be used in parallel from several services", async () => {
    const account = await verifiedAccount("parallel");
    const pair = await loginV1(account);
    const answers = await Promise.all(Array.from({ length: 8 }, () => useApi(pair.accessToken)));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
  });

  it("revoke on logout, revoke-all in emergencies", async () => {
    const account = await verifiedAccount("emergency");
    const phone = await loginV1(account);
    const laptop = await loginV1(account);
    const tablet = await loginV1(account);

    expect((await call("/v1/auth/revoke", { body: { refreshToken: phone.refreshToken } })).status).toBe(204);
    await expectError(await refresh(phone.refreshToken), 401, "invalid_token");
    expect((await useApi(laptop.accessToken)).status).toBe(200);

    expect((await call("/v1/auth/revoke-all", { method: "POST", token: laptop.accessToken })).status).toBe(204);
    for (const pair of [laptop, tablet]) {
      await expectError(await refresh(pair.refreshToken), 401, "invalid_token");
      await expectError(await useApi(pair.accessToken), 401, "invalid_token");
    }
    expect((await loginV1(account)).user.id).toBe(account.userId);
  });

  it("FAQ: changing the password does not end other sessions; revoke-all afterwards does", async () => {
    const account = await verifiedAccount("rotate");
    const here = await loginV1(account);
    const elsewhere = await loginV1(account);
    const newPassword = "rotated-passphrase-88";
    const changed = await call("/v1/auth/change-password", {
      token: here.accessToken,
      body: { currentPassword: PASSWORD, newPassword },
    });
    expect(changed.status).toBe(200);
    expect((await useApi(elsewhere.accessToken)).status).toBe(200);
    const stillWorks = await refresh(elsewhere.refreshToken);
    expect(stillWorks.status).toBe(200);
    const elsewhereNow = await json(stillWorks);

    expect((await call("/v1/auth/revoke-all", { method: "POST", token: here.accessToken })).status).toBe(204);
    await expectError(await refresh(elsewhereNow.refreshToken), 401, "invalid_token");
    await expectError(await useApi(here.accessToken), 401, "invalid_token");
    expect((await loginV1({ ...account, password: newPassword })).user.id).toBe(account.userId);
  });
});
