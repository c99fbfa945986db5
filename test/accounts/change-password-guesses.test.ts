/**
 * Change-password's current password is a password check like a login's (API.md §6): each wrong
 * one is counted against the account, whatever the caller's address, so a stolen session cannot
 * guess the password there past ACCOUNT_LOGIN_FAILURES (10 in 15 minutes); the count is the
 * login's own, and a right password clears it.
 */
import { describe, expect, it } from "vitest";
import { call, expectError, login, verifiedAccount } from "../helpers";

const LIMIT = 10; // ACCOUNT_LOGIN_FAILURES "10/900", as the tests run

describe("change-password counts wrong current passwords against the account", () => {
  it("answers 429 after the limit, from any address, even for the right password; login shares the count", async () => {
    const account = await verifiedAccount("cp-guess");
    const { accessToken } = await login(account);
    const change = (currentPassword: string) =>
      call("/v1/auth/change-password", { token: accessToken, body: { currentPassword, newPassword: "a-fresh-violet-harbor-61" } });
    for (let i = 0; i < LIMIT; i++) {
      await expectError(await change(`wrong-guess-${i}-x`), 401, "invalid_credentials");
    }
    const refused = await change(account.password);
    await expectError(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // The same account count as a login's.
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: account.password } }), 429, "rate_limited");
  });

  it("a right current password clears the count", async () => {
    const account = await verifiedAccount("cp-clear");
    const { accessToken } = await login(account);
    for (let i = 0; i < LIMIT - 1; i++) {
      await expectError(
        await call("/v1/auth/change-password", { token: accessToken, body: { currentPassword: `nope-${i}-y`, newPassword: "a-fresh-violet-harbor-62" } }),
        401,
        "invalid_credentials",
      );
    }
    const changed = await call("/v1/auth/change-password", { token: accessToken, body: { currentPassword: account.password, newPassword: "a-fresh-violet-harbor-62" } });
    expect(changed.status).toBe(200);
    // Cleared: a wrong login now is an ordinary 401, not a 429.
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: "not-it-at-all-3" } }), 401, "invalid_credentials");
  });
});
