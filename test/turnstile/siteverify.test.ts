/**
 * How the service talks to siteverify (API.md §17), through the real Worker against the stand-in
 * on loopback: the rate limit answers first, the idempotency key makes a retry safe, the service's
 * own faults (a wrong secret, an answer that is not JSON) fail closed, TURNSTILE_HOSTNAMES, the
 * optional `login` route, and Turnstile off (no secret, or a route not listed) changing nothing.
 */
import { describe, expect, it } from "vitest";
import { call, captureLogs, env, expectError, expectRateLimited, freshIp, json, verifiedAccount } from "../helpers";
import { issueToken, receivedFor, sendWith, siteverifySecret, siteverifyUrl, turnstileEnv } from "../helpers/turnstile";

const on = turnstileEnv();

describe("the rate limit", () => {
  it("answers before Turnstile: refused requests count, and a flood gets 429 without siteverify being called", async () => {
    for (const [path, limit] of [["/v1/auth/guest", 5], ["/auth/forgot-password", 5]] as const) {
      const ip = freshIp();
      const body = { email: "nobody@example.com" };
      for (let i = 0; i < limit; i++) {
        const refused = await sendWith(on, path, { body, ip });
        await expectError(refused, 403, "captcha_required");
        expect(refused.headers.get("RateLimit-Remaining")).toBe(String(limit - 1 - i));
      }
      const token = await issueToken();
      await expectRateLimited(await sendWith(on, path, { body: { ...body, turnstileToken: token }, ip }), limit);
      expect(await receivedFor(token)).toEqual([]);
    }
  });
});

describe("siteverify's protocol", () => {
  it("sends a fresh idempotency key per check, and retries a lost answer with the same key (which replays the verdict)", async () => {
    const a = await issueToken();
    const b = await issueToken();
    expect((await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: a } })).status).toBe(200);
    expect((await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: b } })).status).toBe(200);
    expect((await receivedFor(a))[0]!.idempotencyKey).not.toBe((await receivedFor(b))[0]!.idempotencyKey);

    // The first check spends the token and its answer is lost (502): the retry must carry the same key.
    const lost = await issueToken({ behaviour: "lost-once" });
    const response = await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: lost } });
    expect(response.status, await response.clone().text()).toBe(200);
    const checks = await receivedFor(lost);
    expect(checks.map((r) => r.answered)).toEqual([502, 200]);
    expect(checks[0]!.idempotencyKey).toBe(checks[1]!.idempotencyKey);
  });

  it("passes the client's address (CF-Connecting-IP, IPv6 too) as remoteip, never X-Forwarded-For", async () => {
    const ip = "2001:db8:7:1::42";
    const token = await issueToken();
    const response = await sendWith(on, "/v1/auth/guest", { headers: { "cf-turnstile-response": token, "x-forwarded-for": "198.51.100.1" }, ip });
    expect(response.status).toBe(200);
    expect((await receivedFor(token))[0]).toMatchObject({ remoteip: ip, secretOk: true });
  });

  it("refuses a token longer than Turnstile issues without asking siteverify", async () => {
    const token = `0.${"a".repeat(2048)}`;
    await expectError(await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: token } }), 403, "captcha_required");
    expect(await receivedFor(token)).toEqual([]);
  });

  it("fails closed (503) when siteverify blames the service (a wrong secret) or answers something that is not JSON, and logs no secret or token", async () => {
    const logs = captureLogs();
    try {
      const wrongSecret = turnstileEnv({ TURNSTILE_SECRET_KEY: "0x4AAAAAAAwrong-secret-for-the-test" });
      const token = await issueToken();
      await expectError(await sendWith(wrongSecret, "/v1/auth/guest", { body: { turnstileToken: token } }), 503, "unavailable");
      expect((await receivedFor(token))[0]).toMatchObject({ secretOk: false, answered: 200 });
      const garbled = await issueToken({ behaviour: "not-json" });
      await expectError(await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: garbled } }), 503, "unavailable");
      const failures = logs.events("turnstile.unavailable");
      expect(failures.map((f) => f.errorCodes ?? f.reason)).toEqual([["invalid-input-secret"], "status 200, not JSON"]);
      for (const secret of [siteverifySecret, "wrong-secret-for-the-test", token, garbled]) expect(logs.text()).not.toContain(secret);
    } finally {
      logs.restore();
    }
  });

  it("answers 503 when siteverify cannot be reached", async () => {
    const closed = turnstileEnv({ TURNSTILE_VERIFY_URL: "http://127.0.0.1:9/turnstile/v0/siteverify" });
    await expectError(await sendWith(closed, "/v1/auth/guest", { body: { turnstileToken: await issueToken() } }), 503, "unavailable");
  });
});

describe("TURNSTILE_HOSTNAMES", () => {
  it("refuses a token solved on another host, and accepts the listed ones whatever their case", async () => {
    const pinned = turnstileEnv({ TURNSTILE_HOSTNAMES: "app.example.com, Login.Example.com" });
    const foreign = await issueToken({ hostname: "evil.example.net" });
    await expectError(await sendWith(pinned, "/v1/auth/guest", { body: { turnstileToken: foreign } }), 403, "captcha_required");
    for (const hostname of ["app.example.com", "login.example.com"]) {
      expect((await sendWith(pinned, "/v1/auth/guest", { body: { turnstileToken: await issueToken({ hostname }) } })).status).toBe(200);
    }
    // Unset, any host the widget itself accepted will do.
    expect((await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: await issueToken({ hostname: "evil.example.net" }) } })).status).toBe(200);
  });
});

describe("TURNSTILE_ROUTES", () => {
  it("guards password sign-in on all three doors when it names login (not by default)", async () => {
    const account = await verifiedAccount("ts-login");
    const withLogin = turnstileEnv({ TURNSTILE_ROUTES: "login,guest" });
    const doors = [
      ["/v1/auth/login", { email: account.email, password: account.password }],
      ["/auth/login", { username: account.username, password: account.password }],
      ["/auth/signin", { email: account.email, password: account.password }],
    ] as const;
    for (const [path, body] of doors) {
      await expectError(await sendWith(withLogin, path, { body }), 403, "captcha_required");
      const token = await issueToken();
      const response = await sendWith(withLogin, path, { body: { ...body, turnstile_token: token } });
      expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
      expect(await receivedFor(token)).toHaveLength(1);
      // The default list leaves sign-in alone.
      expect((await sendWith(on, path, { body })).status).toBe(200);
    }
    // Routes left out of the list are open: register here.
    expect((await sendWith(withLogin, "/v1/auth/register", { body: { email: `ts-open-${crypto.randomUUID().slice(0, 8)}@example.com`, password: account.password } })).status).toBe(201);
  });
});

describe("with Turnstile off", () => {
  it("needs no token and never calls siteverify, even with TURNSTILE_VERIFY_URL set", async () => {
    const off = { ...env, TURNSTILE_VERIFY_URL: siteverifyUrl } as unknown as Env;
    const token = await issueToken();
    expect((await sendWith(off, "/v1/auth/guest", { body: { turnstileToken: token } })).status).toBe(200);
    expect((await sendWith(off, "/auth/guest")).status).toBe(200);
    expect(await receivedFor(token)).toEqual([]);
  });

  it("accepts the turnstileToken field on every route that takes it (no unknown-field refusal)", async () => {
    const account = await verifiedAccount("ts-off");
    const turnstileToken = "0.not-checked-while-off";
    const cases = [
      ["/v1/auth/guest", {}, 200],
      ["/v1/auth/register", { email: `ts-off-${crypto.randomUUID().slice(0, 8)}@example.com`, password: account.password }, 201],
      ["/v1/auth/login", { email: account.email, password: account.password }, 200],
      ["/auth/signin", { email: account.email, password: account.password }, 200],
      // Addresses of their own: codes and recovery mails share a per-address limit of 3 an hour.
      ["/v1/auth/email-code", { email: `ts-off-${crypto.randomUUID().slice(0, 8)}@example.com` }, 200],
      ["/v1/auth/forgot-password", { email: account.email }, 200],
      ["/auth/forgot-password", { email: account.email }, 200],
      ["/v1/auth/resend-verification", { email: `ts-off-${crypto.randomUUID().slice(0, 8)}@example.com` }, 200],
      ["/v1/auth/request-deletion", { email: `ts-off-${crypto.randomUUID().slice(0, 8)}@example.com` }, 200],
    ] as const;
    for (const [path, body, status] of cases) {
      const response = await call(path, { body: { ...body, turnstileToken } });
      expect(response.status, `${path}: ${await response.clone().text()}`).toBe(status);
    }
    expect((await json(await call("/auth/guest", { body: { turnstile_token: turnstileToken } }))).access_token).toEqual(expect.any(String));
  });
});
