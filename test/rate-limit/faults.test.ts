/**
 * When the limiter fails (rateLimit in src/http/middleware.ts): credential and mail routes fail closed
 * with a 503, refresh, sign-out and session routes fail open. Faults are injected into the real
 * RateLimiter object of a test address, never into a stand-in.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { CallOptions } from "../helpers";
import { breakRateLimiter, call, captureLogs, expectError, freshIp, guest, inRateLimiter, json, migrateRateLimiter, rateLimiterOf } from "../helpers";

async function expectUnavailable(response: Response): Promise<void> {
  const body = await expectError(response, 503, "unavailable");
  expect(Object.keys(body).sort()).toEqual(["error", "message", "statusCode"]);
  expect(JSON.stringify(body)).not.toMatch(/hits|sqlite|stack|at \w+ \(/i);
  expect(response.headers.get("Retry-After")).toBe("5");
  expect(response.headers.has("RateLimit-Limit")).toBe(false);
}

const FAIL_CLOSED: [string, CallOptions][] = [
  ["/v1/auth/guest", { method: "POST" }],
  ["/v1/auth/login", { body: { email: "someone@example.com", password: "wrong-password-1" } }],
  ["/v1/auth/register", { body: { email: "someone@example.com", password: "violet-harbor-lantern-42" } }],
  ["/v1/auth/forgot-password", { body: { email: "someone@example.com" } }],
  ["/v1/auth/resend-verification", { body: { email: "someone@example.com" } }],
  ["/v1/auth/reset-password", { body: { email: "someone@example.com", token: "t", newPassword: "violet-harbor-lantern-43" } }],
  ["/v1/auth/verify-email", { body: { token: "t" } }],
  ["/v1/auth/change-password", { body: { currentPassword: "a", newPassword: "b" } }],
  ["/v1/auth/upgrade", { body: {} }],
];

describe("the limiter throws: fail closed", () => {
  for (const [path, options] of FAIL_CLOSED) {
    it(`${path} answers 503 and does nothing`, async () => {
      const ip = freshIp();
      await breakRateLimiter(ip);
      await expectUnavailable(await call(path, { ...options, ip }));
    });
  }

  it("no account is created and no mail is sent while it is down", async () => {
    const ip = freshIp();
    await breakRateLimiter(ip);
    const email = `down-${crypto.randomUUID().slice(0, 8)}@example.com`;
    await expectUnavailable(await call("/v1/auth/register", { body: { email, password: "violet-harbor-lantern-42" }, ip }));
    // From a healthy address the same email is still free.
    const later = await call("/v1/auth/register", { body: { email, password: "violet-harbor-lantern-42" } });
    expect(later.status).toBe(201);
  });
});

describe("what the outage logs", () => {
  it("one error line naming the bucket, and nothing of the request's secrets", async () => {
    const ip = freshIp();
    await breakRateLimiter(ip);
    const email = `logged-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = "secret-password-never-logged";
    const logs = captureLogs();
    try {
      await expectUnavailable(await call("/v1/auth/login", { body: { email, password }, ip }));
    } finally {
      logs.restore();
    }
    const [event] = logs.events("ratelimit.unavailable");
    expect(event).toMatchObject({ level: "error", bucket: "login" });
    expect(logs.text()).not.toContain(email);
    expect(logs.text()).not.toContain(password);
  });
});

describe("the limiter cannot be reached: fail closed", () => {
  it("an object that cannot even start answers 503 on login and guest", async () => {
    const ip = freshIp();
    // A view in place of the table (under the current schema version) makes every call to it fail.
    await inRateLimiter(ip, (state) => {
      migrateRateLimiter(state);
      state.storage.sql.exec("DROP TABLE hits");
      state.storage.sql.exec("CREATE VIEW hits AS SELECT 1 AS bucket, 2 AS at, 3 AS expires_at");
    });
    await evictDurableObject(await rateLimiterOf(ip));
    await expectUnavailable(await call("/v1/auth/guest", { method: "POST", ip }));
    await expectUnavailable(await call("/v1/auth/login", { body: { username: "someone", password: "wrong-password-1" }, ip }));
  });
});

describe("the limiter throws: refresh, sign-out and sessions fail open", () => {
  it("refresh, refresh again, list and delete sessions, revoke and revoke-all still work, unlimited", async () => {
    const first = await guest();
    const ip = freshIp();
    await breakRateLimiter(ip);

    let pair = first;
    // More than the refresh limit of 5: nothing counts while the limiter is down.
    for (let i = 0; i < 7; i++) {
      const refreshed = await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken }, ip });
      expect(refreshed.status).toBe(200);
      expect(refreshed.headers.has("RateLimit-Limit")).toBe(false);
      pair = await json(refreshed);
    }
    const listed = await call("/v1/auth/sessions", { token: pair.accessToken, ip });
    expect(listed.status).toBe(200);
    expect((await json(listed)).sessions).toHaveLength(1);

    const second = await guest();
    const other = await call("/v1/auth/sessions", { token: second.accessToken, ip });
    expect(other.status).toBe(200);
    const deleted = await call(`/v1/auth/sessions/${second.sessionId}`, { method: "DELETE", token: second.accessToken, ip });
    expect(deleted.status).toBe(204);

    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken }, ip })).status).toBe(204);
    expect((await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } })).status).toBe(401);
    const third = await guest();
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: third.accessToken, ip })).status).toBe(204);
    expect((await call("/v1/auth/me", { token: third.accessToken })).status).toBe(401);
  });

  it("bad input on a fail-open route is still the route's own §5 error", async () => {
    const ip = freshIp();
    await breakRateLimiter(ip);
    await expectError(await call("/v1/auth/refresh", { body: { refreshToken: "not-a-token" }, ip }), 401, "invalid_token");
    await expectError(await call("/v1/auth/sessions", { ip }), 401, "invalid_token");
  });
});
