/**
 * Config is parsed once and checked: production refuses a missing key, the development key and
 * PBKDF2 iterations production workerd would refuse, and then answers 503 instead of serving.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config";
import worker from "../../src";
import { BASE, configReasons as reasons, env, productionEnv as production } from "../helpers";

async function fetchWith(environment: object, path = "/health") {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`), environment as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("config", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({ JWT_SIGNING_KEY: env.JWT_SIGNING_KEY, ENVIRONMENT: "development" });
    expect(config).toMatchObject({
      accessTokenTtlSeconds: 3600,
      refreshTokenTtlSeconds: 30 * 86_400,
      reuseWindowMs: 10_000,
      maxSessionsPerUser: 5,
      passwordMinLength: 8,
      pbkdf2Iterations: 100_000,
      requireEmailVerification: true,
      resetTokenTtlMs: 30 * 60_000,
      verifyTokenTtlMs: 24 * 3_600_000,
      guestRetentionMs: 30 * 86_400_000,
    });
    expect(config.rateLimits).toEqual({
      guest: { limit: 5, windowSeconds: 3600 },
      login: { limit: 5, windowSeconds: 60 },
      refresh: { limit: 5, windowSeconds: 60 },
      signout: { limit: 2, windowSeconds: 60 },
      upgrade: { limit: 5, windowSeconds: 60 },
      register: { limit: 10, windowSeconds: 3600 },
      recovery: { limit: 5, windowSeconds: 3600 },
      reset: { limit: 10, windowSeconds: 60 },
      sessions: { limit: 60, windowSeconds: 60 },
      code: { limit: 10, windowSeconds: 3600 },
      account: { limit: 20, windowSeconds: 60 },
      admin: { limit: 60, windowSeconds: 60 },
    });
    expect(config.recoveryPerEmail).toEqual({ limit: 3, windowSeconds: 3600 });
    expect(config.accountLoginFailures).toEqual({ limit: 10, windowSeconds: 900 });
  });

  it("reads GUEST_RETENTION_DAYS in days and refuses one outside 1–3650", () => {
    const base = { JWT_SIGNING_KEY: env.JWT_SIGNING_KEY, ENVIRONMENT: "development" };
    expect(loadConfig({ ...base, GUEST_RETENTION_DAYS: "7" }).guestRetentionMs).toBe(7 * 86_400_000);
    expect(() => loadConfig({ ...base, GUEST_RETENTION_DAYS: "0" })).toThrow(/GUEST_RETENTION_DAYS/);
    expect(() => loadConfig({ ...base, GUEST_RETENTION_DAYS: "soon" })).toThrow(/GUEST_RETENTION_DAYS/);
  });

  it("accepts a complete production config", () => {
    expect(reasons(production())).toEqual([]);
  });

  it("refuses PBKDF2 iterations above 100,000 in every environment", () => {
    expect(reasons(production({ PBKDF2_ITERATIONS: "100001" })).join()).toMatch(/PBKDF2_ITERATIONS/);
    expect(reasons({ ...env, PBKDF2_ITERATIONS: "600000" }).join()).toMatch(/PBKDF2_ITERATIONS/);
  });

  it("refuses a missing key, the development key and the dev outbox in production", () => {
    expect(reasons(production({ JWT_SIGNING_KEY: "" })).join()).toMatch(/JWT_SIGNING_KEY: missing/);
    expect(reasons(production({ JWT_SIGNING_KEY: env.JWT_SIGNING_KEY as string })).join()).toMatch(/development key/);
    expect(reasons(production({ MAIL_TRANSPORT: "outbox" })).join()).toMatch(/MAIL_TRANSPORT/);
    expect(reasons(production({ PUBLIC_URL: "" })).join()).toMatch(/PUBLIC_URL/);
    expect(reasons(production({ JWT_SIGNING_KEY: "{not json" })).join()).toMatch(/JWT_SIGNING_KEY/);
    expect(reasons(production({ RATE_LIMIT_LOGIN: "five a minute" })).join()).toMatch(/RATE_LIMIT_LOGIN/);
  });

  it("answers 503 and logs the reasons instead of serving with a bad production config", async () => {
    const errors = vi.spyOn(console, "error");
    const response = await fetchWith(production({ PBKDF2_ITERATIONS: "200000" }), "/v1/auth/guest");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ statusCode: 503, error: "unavailable" });
    const logged = errors.mock.calls.map((c) => String(c[0])).find((line) => line.includes("config.invalid"));
    expect(logged).toMatch(/PBKDF2_ITERATIONS/);
    expect(logged).not.toContain(JSON.parse(env.JWT_SIGNING_KEY as string).d);
    errors.mockRestore();
  });

  it("serves with a good production config, and hides the dev outbox there", async () => {
    const environment = production();
    expect((await fetchWith(environment)).status).toBe(200);
    const outbox = await fetchWith(environment, "/_dev/mail?to=a@example.com");
    expect(outbox.status).toBe(404);
    expect(await outbox.json()).toMatchObject({ error: "not_found" });
    const index = await fetchWith(environment, "/");
    expect(index.status).toBe(404);
    expect(await index.json()).toMatchObject({ error: "not_found" });
  });
});

describe("production refuses mail settings that would fail after the answer", () => {
  it("refuses MAIL_TRANSPORT=cloudflare without an EMAIL binding", () => {
    expect(reasons(production({ MAIL_TRANSPORT: "cloudflare", MAIL_API_KEY: "", EMAIL: undefined })).join()).toMatch(/EMAIL/);
    const binding = { send: async () => undefined };
    expect(reasons(production({ MAIL_TRANSPORT: "cloudflare", MAIL_API_KEY: "", EMAIL: binding }))).toEqual([]);
  });

  it("refuses client aliases that would carry a token over plain http, or with a query or fragment", () => {
    for (const target of ["http://legacy.example.com/account", "https://app.example.com/?next=x", "https://app.example.com/#x"]) {
      expect(reasons(production({ CLIENT_ALIASES: JSON.stringify({ LEGACY: target }) })).join()).toMatch(/CLIENT_ALIASES: LEGACY/);
    }
    expect(reasons(production({ CLIENT_ALIASES: JSON.stringify({ WEB: "https://app.example.com/account" }) }))).toEqual([]);
  });
});
