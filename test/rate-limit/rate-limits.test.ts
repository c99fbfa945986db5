/**
 * Per-address rate limits over HTTP (API.md §6, src/rate-limit/index.ts and the rateLimit middleware):
 * exactness under concurrency, the bucket table, the answers, and how the client address is keyed.
 * Elsewhere: per account and per email in rate-limits-counters, the /auth aliases in
 * rate-limits-aliases, faults in rate-limits-faults, and config in rate-limits-config.test.ts.
 */
import { describe, expect, it } from "vitest";
import { clientKey } from "../../src/rate-limit";
import type { Door } from "../helpers";
import { call, expectError, expectRateHeaders, expectRateLimited, expectSharedBucket, freshIp, guest, uniqueEmail } from "../helpers";

/** A fresh IPv6 /64 per call, so tests never share one. */
let prefixes = Math.floor(Math.random() * 60_000);
const freshPrefix = () => `2001:db8:${(++prefixes).toString(16)}:${Math.floor(Math.random() * 65_535).toString(16)}`;

const parallel = (count: number, send: () => Promise<Response>) => Promise.all(Array.from({ length: count }, send));

describe("exact under concurrency", () => {
  it("20 parallel guests from one address: exactly 5 pass, 15 get 429 with Retry-After", async () => {
    const ip = freshIp();
    const answers = await parallel(20, () => call("/v1/auth/guest", { method: "POST", ip }));
    const passed = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect([passed.length, refused.length]).toEqual([5, 15]);
    for (const r of refused) {
      await expectRateLimited(r, 5);
      // An hour's window: the first slot frees in about an hour.
      expect(Number(r.headers.get("Retry-After"))).toBeGreaterThan(3500);
    }
    expect(passed.map((r) => Number(r.headers.get("RateLimit-Remaining"))).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("20 parallel logins from one address: exactly 5 reach the password check", async () => {
    const ip = freshIp();
    const answers = await parallel(20, () =>
      call("/v1/auth/login", { body: { email: uniqueEmail("par"), password: "wrong-password-1" }, ip }),
    );
    expect(answers.filter((r) => r.status === 401)).toHaveLength(5);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      await expectRateLimited(r, 5);
      expect(Number(r.headers.get("Retry-After"))).toBeLessThanOrEqual(60);
    }
  });
});

const post = (path: string, body?: unknown): Door => ({ path, options: body === undefined ? { method: "POST" } : { body } });
const token = { refreshToken: "not-a-token" };

/** Every canonical route of each bucket, with the table's default limit (API.md §6). */
const BUCKETS: { bucket: string; limit: number; doors: Door[] }[] = [
  { bucket: "guest", limit: 5, doors: [post("/v1/auth/guest")] },
  { bucket: "login", limit: 5, doors: [post("/v1/auth/login", { password: "wrong-password-1" })] },
  { bucket: "refresh", limit: 5, doors: [post("/v1/auth/refresh", token)] },
  { bucket: "signout", limit: 2, doors: [post("/v1/auth/revoke", token), post("/v1/auth/revoke-all")] },
  { bucket: "upgrade", limit: 5, doors: [post("/v1/auth/upgrade", {})] },
  { bucket: "register", limit: 10, doors: [post("/v1/auth/register", {})] },
  {
    bucket: "recovery",
    limit: 5,
    doors: [post("/v1/auth/forgot-password", { baseUrl: "https://evil.example" }), post("/v1/auth/resend-verification", {})],
  },
  {
    bucket: "reset",
    limit: 10,
    doors: [
      post("/v1/auth/reset-password", {}),
      post("/v1/auth/change-password", {}),
      post("/v1/auth/verify-email", { token: "not-a-token" }),
    ],
  },
  {
    bucket: "sessions",
    limit: 60,
    doors: [
      { path: "/v1/auth/sessions", options: { method: "GET" } },
      { path: "/v1/auth/sessions/00000000-0000-4000-8000-000000000000", options: { method: "DELETE" } },
    ],
  },
];

describe("buckets per the API.md §6 table", () => {
  for (const { bucket, limit, doors } of BUCKETS) {
    it(`${bucket}: ${limit} per window, shared by ${doors.map((d) => d.path).join(", ")}`, async () => {
      // Failures (400, 401) count too: most doors here are sent invalid or unauthenticated requests.
      const ip = await expectSharedBucket(doors, limit);
      // Other buckets of the same address are untouched.
      const other = bucket === "guest" ? post("/v1/auth/refresh", token) : post("/v1/auth/guest");
      expect((await call(other.path, { ...other.options, ip })).status).not.toBe(429);
    });
  }

  it("me and the JWKS are not limited per address", async () => {
    const ip = freshIp();
    const { accessToken } = await guest(ip);
    for (let i = 0; i < 8; i++) {
      const me = await call("/v1/auth/me", { token: accessToken, ip });
      expect(me.status).toBe(200);
      expect(me.headers.has("RateLimit-Limit")).toBe(false);
    }
    const jwks = await call("/.well-known/jwks.json", { ip });
    expect(jwks.status).toBe(200);
    expect(jwks.headers.has("RateLimit-Limit")).toBe(false);
  });
});

describe("answers", () => {
  it("RateLimit-* headers on success and on failure, counting down; Retry-After only on 429", async () => {
    const ip = freshIp();
    const first = await call("/v1/auth/guest", { method: "POST", ip });
    expect(first.status).toBe(200);
    expectRateHeaders(first, 5, 4);
    expect(first.headers.has("Retry-After")).toBe(false);
    expect(Number(first.headers.get("RateLimit-Reset"))).toBeLessThanOrEqual(3600);

    const invalid = await call("/v1/auth/login", { body: { email: "not an email" }, ip });
    await expectError(invalid, 400, "invalid_request");
    expectRateHeaders(invalid, 5, 4);
    const wrong = await call("/v1/auth/login", { body: { email: uniqueEmail(), password: "wrong-password-1" }, ip });
    await expectError(wrong, 401, "invalid_credentials");
    expectRateHeaders(wrong, 5, 3);
    expect(wrong.headers.has("Retry-After")).toBe(false);
  });

  it("the headers are exposed to browsers through CORS", async () => {
    const r = await call("/v1/auth/guest", { method: "POST", headers: { origin: "https://app.example.com" } });
    expect(r.status).toBe(200);
    const exposed = (r.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase();
    for (const name of ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"]) expect(exposed).toContain(name);
  });
});

describe("the client address", () => {
  const guestFrom = (headers: Record<string, string>) => call("/v1/auth/guest", { method: "POST", headers });

  it("is CF-Connecting-IP alone: X-Forwarded-For and X-Real-IP are ignored", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const spoof = { "cf-connecting-ip": ip, "x-forwarded-for": freshIp(), "x-real-ip": freshIp() };
      expect((await guestFrom(spoof)).status).toBe(200);
    }
    await expectRateLimited(await guestFrom({ "cf-connecting-ip": ip, "x-forwarded-for": freshIp() }), 5);
    // Claiming the exhausted address in the client-set headers does not make another client share it.
    const other = await guestFrom({ "cf-connecting-ip": freshIp(), "x-forwarded-for": ip, "x-real-ip": ip });
    expect(other.status).toBe(200);
    expectRateHeaders(other, 5, 4);
  });

  it("IPv6: two addresses in one /64 share a bucket; another /64 does not", async () => {
    const prefix = freshPrefix();
    const addresses = [`${prefix}:0:0:0:1`, `${prefix}::abcd:2`, `${prefix}:ffff:ffff:ffff:ffff`, `${prefix.toUpperCase()}::9`, `${prefix}:0::5`];
    for (const address of addresses) expect((await guestFrom({ "cf-connecting-ip": address })).status).toBe(200);
    await expectRateLimited(await guestFrom({ "cf-connecting-ip": `${prefix}:1234:5678:9abc:def0` }), 5);
    const neighbour = await guestFrom({ "cf-connecting-ip": `${freshPrefix()}::1` });
    expect(neighbour.status).toBe(200);
    expectRateHeaders(neighbour, 5, 4);
  });

  it("IPv4-mapped IPv6 is the IPv4 address", async () => {
    const ip = freshIp();
    const [a, b, c, d] = ip.split(".").map(Number) as [number, number, number, number];
    const hex = `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    for (const address of [ip, `::ffff:${ip}`, `::FFFF:${ip}`, hex, `0:0:0:0:0:ffff:${ip}`]) {
      expect((await guestFrom({ "cf-connecting-ip": address })).status).toBe(200);
    }
    await expectRateLimited(await guestFrom({ "cf-connecting-ip": ip }), 5);
  });

  it("clientKey normalises what it keys on", () => {
    expect(clientKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientKey(" 203.0.113.7 ")).toBe("203.0.113.7");
    expect(clientKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(clientKey("::ffff:cb00:7107")).toBe("203.0.113.7");
    expect(clientKey("2001:DB8:0:1::1")).toBe("2001:db8:0:1::/64");
    expect(clientKey("2001:db8:0:1:ffff:ffff:ffff:ffff")).toBe("2001:db8:0:1::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    // Not addresses: one shared "unknown" client rather than a fresh bucket per made-up value.
    for (const junk of [null, undefined, "", "not-an-ip", "1:2:3", "1::2::3", "fe80::1%eth0", "12345::1"]) {
      expect(clientKey(junk)).toBe("unknown");
    }
  });
});

describe("§6 RateLimit-* headers on every answer of a limited route", () => {
  // API.md §6: "Every limited route answers `RateLimit-Limit`, `RateLimit-Remaining` and
  // `RateLimit-Reset` headers."
  it("a malformed JSON body on login still answers the RateLimit-* headers", async () => {
    const response = await call("/v1/auth/login", { rawBody: "{", headers: { "content-type": "application/json" } });
    await expectError(response, 400, "invalid_request");
    expectRateHeaders(response, 5);
  });

  // API.md §6: "Every limited route answers `RateLimit-Limit`, `RateLimit-Remaining` and
  // `RateLimit-Reset` headers."
  it("a too-large body on login still answers the RateLimit-* headers", async () => {
    const huge = JSON.stringify({ email: uniqueEmail(), password: "x".repeat(20_000) });
    const response = await call("/v1/auth/login", { rawBody: huge, headers: { "content-type": "application/json" } });
    await expectError(response, 413, "payload_too_large");
    expectRateHeaders(response, 5);
  });
});
