/**
 * Every limit comes from a RATE_LIMIT_* var (src/config/index.ts, wrangler.toml) with API.md §6's table
 * as defaults. A changed var is served by calling the Worker with a new env object, which is parsed
 * anew; the limiter, D1 and the rest stay the real ones.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { BASE, call, env, expectError, expectRateHeaders, freshIp, uniqueEmail, verifiedAccount } from "../helpers";

interface Send {
  method?: string;
  body?: unknown;
  ip: string;
}

/** One request to the Worker under `overrides` of the test env. */
async function callWith(overrides: Record<string, string>, path: string, { method, body, ip }: Send): Promise<Response> {
  const headers = new Headers({ "cf-connecting-ip": ip });
  if (body !== undefined) headers.set("content-type", "application/json");
  const request = new Request(`${BASE}${path}`, { method: method ?? "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** Each bucket's var, its default as the table gives it, and one route it limits. */
const VARS: { name: string; value: string; path: string; method?: string; body?: unknown }[] = [
  { name: "RATE_LIMIT_GUEST", value: "5/3600", path: "/v1/auth/guest" },
  { name: "RATE_LIMIT_LOGIN", value: "5/60", path: "/v1/auth/login", body: {} },
  { name: "RATE_LIMIT_REFRESH", value: "5/60", path: "/v1/auth/refresh", body: {} },
  { name: "RATE_LIMIT_SIGNOUT", value: "2/60", path: "/v1/auth/revoke", body: {} },
  { name: "RATE_LIMIT_UPGRADE", value: "5/60", path: "/v1/auth/upgrade", body: {} },
  { name: "RATE_LIMIT_REGISTER", value: "10/3600", path: "/v1/auth/register", body: {} },
  { name: "RATE_LIMIT_RECOVERY", value: "5/3600", path: "/v1/auth/forgot-password", body: {} },
  { name: "RATE_LIMIT_RESET", value: "10/60", path: "/v1/auth/verify-email", body: {} },
  { name: "RATE_LIMIT_SESSIONS", value: "60/60", path: "/v1/auth/sessions", method: "GET" },
];

describe("limits from env", () => {
  it("wrangler.toml sets every var to the table's value", () => {
    for (const { name, value } of VARS) expect(env[name as keyof Env], name).toBe(value);
    expect(env.RATE_LIMIT_RECOVERY_PER_EMAIL).toBe("3/3600");
    expect(env.RATE_LIMIT_ACCOUNT_LOGIN_FAILURES).toBe("10/900");
  });

  for (const { name, value, path, method, body } of VARS) {
    it(`${name}=2/30 limits ${path} to 2 in 30 s; blank falls back to ${value}`, async () => {
      const ip = freshIp();
      const changed = { [name]: "2/30" };
      for (let i = 0; i < 2; i++) {
        const r = await callWith(changed, path, { method, body, ip });
        expect(r.status).not.toBe(429);
        expectRateHeaders(r, 2, 1 - i);
      }
      const refused = await callWith(changed, path, { method, body, ip });
      await expectError(refused, 429, "rate_limited");
      expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(30);

      const blank = await callWith({ [name]: "" }, path, { method, body, ip: freshIp() });
      expectRateHeaders(blank, Number(value.split("/")[0]));
    });
  }

  it("the same address is judged by the limit in force: raising it lets more through at once", async () => {
    const ip = freshIp();
    const send = (limit: string) => callWith({ RATE_LIMIT_LOGIN: limit }, "/v1/auth/login", { body: {}, ip });
    expect((await send("2/60")).status).toBe(400);
    expect((await send("2/60")).status).toBe(400);
    expect((await send("2/60")).status).toBe(429);
    const raised = await send("3/60");
    expect(raised.status).toBe(400);
    expectRateHeaders(raised, 3, 0);
  });

  it("RATE_LIMIT_ACCOUNT_LOGIN_FAILURES sets the per-account limit", async () => {
    const account = await verifiedAccount("config");
    const changed = { RATE_LIMIT_ACCOUNT_LOGIN_FAILURES: "2/120" };
    const attempt = (password: string) => callWith(changed, "/v1/auth/login", { body: { email: account.email, password }, ip: freshIp() });
    expect((await attempt("wrong-password-1")).status).toBe(401);
    expect((await attempt("wrong-password-1")).status).toBe(401);
    const refused = await attempt(account.password);
    await expectError(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(120);
    // Under the default of ten, the same two failures leave room for the right password.
    expect((await call("/v1/auth/login", { body: { email: account.email, password: account.password } })).status).toBe(200);
  });

  it("RATE_LIMIT_RECOVERY_PER_EMAIL sets the per-email limit", async () => {
    const email = uniqueEmail("config");
    const changed = { RATE_LIMIT_RECOVERY_PER_EMAIL: "1/3600" };
    expect((await callWith(changed, "/v1/auth/forgot-password", { body: { email }, ip: freshIp() })).status).toBe(200);
    await expectError(await callWith(changed, "/v1/auth/resend-verification", { body: { email }, ip: freshIp() }), 429, "rate_limited");
  });

  it("a malformed limit stops the service with a 503 rather than serving unlimited", async () => {
    const r = await callWith({ RATE_LIMIT_GUEST: "lots" }, "/v1/auth/guest", { ip: freshIp() });
    expect(r.status).toBe(503);
    const body = (await r.json()) as { error: string };
    expect(body.error).toBe("unavailable");
  });
});
