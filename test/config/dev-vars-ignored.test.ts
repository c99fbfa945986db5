/**
 * `npm test` never depends on the developer's local variables (issue 26 item 5): the test Worker
 * sees wrangler.toml's [vars] and the Vitest config's bindings, never the checkout's `.dev.vars`,
 * `.env` files or the shell environment (scripts/test-wrangler-config.mjs).
 *
 * Run alone these assertions hold trivially; `npm run check:dev-vars` (scripts/check-dev-vars-ignored.mjs)
 * runs them with a hostile `.dev.vars` in the checkout (limits raised and lowered, a pepper, a
 * Turnstile secret, a sentinel) and CLOUDFLARE_INCLUDE_PROCESS_ENV=true with a sentinel in the shell, where they fail
 * without the isolation.
 *
 * @example
 * npm run check:dev-vars
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectRateHeaders, expectRateLimited, freshIp } from "../helpers";

describe("the test Worker's bindings come from wrangler.toml and vitest.config.ts only", () => {
  it("has no variable from .dev.vars, .env or the shell", () => {
    const bindings = env as unknown as Record<string, unknown>;
    for (const name of ["EDGE_AUTH_DEV_VARS_SENTINEL", "EDGE_AUTH_SHELL_SENTINEL", "PASSWORD_PEPPER", "TURNSTILE_SECRET_KEY", "PATH", "HOME"]) {
      expect(bindings[name], name).toBeUndefined();
    }
  });

  it("has wrangler.toml's limits (API.md §6), whatever .dev.vars raises or lowers", () => {
    expect(env.RATE_LIMIT_GUEST).toBe("5/3600");
    expect(env.RATE_LIMIT_LOGIN).toBe("5/60");
    expect(env.RATE_LIMIT_REFRESH).toBe("5/60");
    expect(env.RATE_LIMIT_SIGNOUT).toBe("2/60");
    expect(env.RATE_LIMIT_ACCOUNT_LOGIN_FAILURES).toBe("10/900");
    expect(env.PBKDF2_ITERATIONS).toBe("100000");
  });

  it("limits one address to 5 guests an hour over HTTP", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const response = await call("/v1/auth/guest", { method: "POST", ip });
      expect(response.status).toBe(200);
      expectRateHeaders(response, 5, 4 - i);
    }
    await expectRateLimited(await call("/v1/auth/guest", { method: "POST", ip }), 5);
  });

  it("lets one address try 5 logins a minute, not 1 and not 1000", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const response = await call("/v1/auth/login", { body: { email: "nobody@example.com", password: "wrong-password-1" }, ip });
      expect(response.status).toBe(401);
      expectRateHeaders(response, 5, 4 - i);
    }
    await expectRateLimited(await call("/v1/auth/login", { body: { email: "nobody@example.com", password: "wrong-password-1" }, ip }), 5);
  });
});
