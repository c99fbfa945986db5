/**
 * The per-account count of checked password attempts (API.md §6, 10 per 15 minutes) under
 * concurrency: a correct password never counts as a failure, parallel guessing is still held to
 * 10 checked attempts, and the refusal's Retry-After is the real time left in the window.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, verifiedAccount } from "../helpers";

describe("checked password attempts per account", () => {
  it("15 parallel logins with the right password from 15 addresses all succeed", async () => {
    const account = await verifiedAccount("parallel-right");
    const responses = await Promise.all(
      Array.from({ length: 15 }, () => call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(15).fill(200));
  });

  it("after 10 failures the refusal tells the real remaining wait, and refused attempts do not extend it", async () => {
    const account = await verifiedAccount("retry-after");
    for (let i = 0; i < 10; i++) {
      expect((await call("/v1/auth/login", { body: { email: account.email, password: `wrong-${i}` } })).status).toBe(401);
    }
    const first = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    await expectError(first, 429, "rate_limited");
    const wait = Number(first.headers.get("Retry-After"));
    expect(wait).toBeGreaterThan(800);
    expect(wait).toBeLessThanOrEqual(900);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later = await call("/v1/auth/login", { body: { email: account.email, password: "wrong-again" } });
    await expectError(later, 429, "rate_limited");
    expect(Number(later.headers.get("Retry-After"))).toBeLessThan(wait);
  });
});

describe("a right password for an unverified address", () => {
  it("answers email_not_verified and is never counted as a failure", async () => {
    const email = `unverified-${crypto.randomUUID().slice(0, 8)}@example.com`;
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    for (let i = 0; i < 12; i++) {
      await expectError(await call("/v1/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");
    }
  });
});
