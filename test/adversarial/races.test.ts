/**
 * Races an attacker can start (ASVS 2.3.4, 15.4.2): parallel password guesses against one account,
 * and parallel redemptions of one mailed token. Each limit or single use must hold exactly under
 * concurrency, because every request of a burst comes from a different address.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, login, mailedToken, uniqueEmail, verifiedAccount } from "../helpers";

describe("parallel password guessing", () => {
  it("lets exactly 10 guesses at one account through, however many arrive at once", async () => {
    const account = await verifiedAccount("race-guess");
    const responses = await Promise.all(
      Array.from({ length: 24 }, (_, i) => call("/v1/auth/login", { body: { email: account.email, password: `guess-number-${i}` } })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(14).fill(429)]);
    // The right password is throttled too while the window lasts: the count is per account.
    const right = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    await expectError(right, 429, "rate_limited");
  });
});

describe("parallel redemption of one mailed token", () => {
  it("verifies an email once", async () => {
    const email = uniqueEmail("race-verify");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    const token = await mailedToken(email, "/verify-email");
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => call("/v1/auth/verify-email", { body: { token } })))).map(
      (r) => r.status,
    );
    expect(statuses.sort()).toEqual([200, 400, 400, 400, 400, 400]);
  });

  it("resets a password once, and only the winner's password works", async () => {
    const account = await verifiedAccount("race-reset");
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const candidates = Array.from({ length: 5 }, (_, i) => `Parallel-Reset-Password-${i}`);
    const responses = await Promise.all(
      candidates.map((newPassword) => call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword } })),
    );
    const winners = candidates.filter((_, i) => responses[i]!.status === 200);
    expect(winners).toHaveLength(1);
    for (const [i, response] of responses.entries()) {
      if (candidates[i] !== winners[0]) await expectError(response, 400, "invalid_request");
    }
    expect((await login({ email: account.email, password: winners[0]! })).user.email).toBe(account.email);
    for (const loser of candidates.filter((c) => c !== winners[0])) {
      await expectError(await call("/v1/auth/login", { body: { email: account.email, password: loser } }), 401, "invalid_credentials");
    }
  });
});
