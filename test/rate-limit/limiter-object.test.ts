/**
 * The RateLimiter Durable Object itself (src/rate-limit/limiter-object.ts), called over RPC like the Worker calls
 * it: the sliding-window log, its answers, and the alarm that cleans it up. The HTTP side is in
 * rate-limits*.test.ts.
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, freshIp, inRateLimiter, rateLimiterOf, uniqueEmail } from "../helpers";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RateLimiter object", () => {
  it("lets exactly `limit` of 20 parallel calls through", async () => {
    const limiter = await rateLimiterOf(freshIp());
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.consume("login", 5, 60)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.filter((d) => !d.allowed)).toHaveLength(15);
    for (const refused of decisions.filter((d) => !d.allowed)) {
      expect(refused).toMatchObject({ limit: 5, remaining: 0 });
      expect(refused.retryAfter).toBe(refused.reset);
      expect(refused.retryAfter).toBeGreaterThanOrEqual(59);
      expect(refused.retryAfter).toBeLessThanOrEqual(60);
    }
    // Remaining counts down 4..0 over the allowed calls, whatever order they ran in.
    expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("an instance started after eviction decides from the stored hits as the evicted one would", async () => {
    const limiter = await rateLimiterOf(freshIp());
    await limiter.consume("login", 3, 60);
    await limiter.consume("signout", 1, 60);
    await limiter.consume("login", 3, 60);
    await evictDurableObject(limiter);
    expect(await limiter.consume("login", 3, 60)).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await limiter.consume("login", 3, 60);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.retryAfter).toBeGreaterThanOrEqual(59); // the first hit, a moment ago, leaves in ~60 s
    expect((await limiter.consume("signout", 1, 60)).allowed).toBe(false);
  });

  it("keeps buckets of one address apart", async () => {
    const limiter = await rateLimiterOf(freshIp());
    expect((await limiter.consume("signout", 1, 60)).allowed).toBe(true);
    expect((await limiter.consume("signout", 1, 60)).allowed).toBe(false);
    expect((await limiter.consume("refresh", 1, 60)).allowed).toBe(true);
  });

  it("stores only allowed hits, so refusals do not push the window out", async () => {
    const ip = freshIp();
    const limiter = await rateLimiterOf(ip);
    for (let i = 0; i < 7; i++) await limiter.consume("upgrade", 2, 60);
    const rows = await inRateLimiter(ip, (state) => state.storage.sql.exec("SELECT count(*) AS n FROM hits").one().n);
    expect(rows).toBe(2);
  });

  it("slides: a slot frees when the oldest hit leaves the window, not at a fixed edge", async () => {
    const limiter = await rateLimiterOf(freshIp());
    expect((await limiter.consume("reset", 2, 2)).allowed).toBe(true);
    await sleep(1000);
    expect((await limiter.consume("reset", 2, 2)).allowed).toBe(true);
    const refused = await limiter.consume("reset", 2, 2);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfter).toBe(1); // the first hit leaves about 1 s from now
    await sleep(1100);
    // The first hit left; the second is still inside its window, so exactly one more passes.
    expect((await limiter.consume("reset", 2, 2)).allowed).toBe(true);
    expect((await limiter.consume("reset", 2, 2)).allowed).toBe(false);
  });

  it("after the limit is lowered, Retry-After waits for enough hits to leave", async () => {
    const limiter = await rateLimiterOf(freshIp());
    await limiter.consume("guest", 5, 3600);
    await sleep(1100);
    for (let i = 0; i < 4; i++) await limiter.consume("guest", 5, 3600);
    // Five hits: at a limit of 5 a slot frees when the oldest leaves; at a lowered limit of 2, only
    // when the fourth-oldest leaves too, over a second later.
    const atLimit = await limiter.consume("guest", 5, 3600);
    const lowered = await limiter.consume("guest", 2, 3600);
    expect(atLimit).toMatchObject({ allowed: false, remaining: 0 });
    expect(lowered).toMatchObject({ allowed: false, remaining: 0 });
    expect(lowered.retryAfter).toBeGreaterThan(atLimit.retryAfter);
  });

  it("the alarm drops expired hits, keeps live ones, and clears an idle object's storage", async () => {
    const ip = freshIp();
    const limiter = await rateLimiterOf(ip);
    await limiter.consume("login", 5, 1);
    await limiter.consume("guest", 5, 3600);
    const scheduled = await inRateLimiter(ip, (state) => state.storage.getAlarm());
    expect(scheduled).not.toBeNull();
    // Alarms fire on their own in workerd; run it now if it has not fired yet.
    await sleep(Math.max(0, scheduled! - Date.now()) + 100);
    await runDurableObjectAlarm(limiter);
    const left = await inRateLimiter(ip, async (state) => ({
      buckets: state.storage.sql.exec<{ bucket: string }>("SELECT bucket FROM hits").toArray().map((r) => r.bucket),
      alarm: await state.storage.getAlarm(),
    }));
    expect(left.buckets).toEqual(["guest"]);
    expect(left.alarm).toBeGreaterThan(Date.now() + 3_500_000);

    const idleIp = freshIp();
    const idle = await rateLimiterOf(idleIp);
    await idle.consume("login", 5, 1);
    await sleep(1100);
    await runDurableObjectAlarm(idle);
    const after = await inRateLimiter(idleIp, async (state) => ({
      tables: state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('hits', 'schema_version')").toArray().length,
      alarm: await state.storage.getAlarm(),
    }));
    expect(after).toEqual({ tables: 0, alarm: null });
    // The cleared object still works and schedules its cleanup again.
    expect((await idle.consume("login", 5, 1)).allowed).toBe(true);
    expect(await inRateLimiter(idleIp, (state) => state.storage.getAlarm())).not.toBeNull();
  });
});

describe("cost: one limiter round trip per limited request", () => {
  it("every limited request, whatever its bucket, makes one call to its address's one object", async () => {
    const ip = freshIp();
    const routes: [string, { method?: string; body?: unknown }][] = [
      ["/v1/auth/login", { body: { email: uniqueEmail("cost"), password: "wrong-password-1" } }],
      ["/v1/auth/refresh", { body: { refreshToken: "not-a-token" } }],
      ["/v1/auth/revoke", { body: { refreshToken: "not-a-token" } }],
      ["/v1/auth/sessions", { method: "GET" }],
      ["/v1/auth/verify-email", { body: { token: "not-a-token" } }],
      ["/v1/auth/register", { body: {} }],
    ];
    for (const [path, options] of routes) await call(path, { ...options, ip });
    const hits = await inRateLimiter(ip, (state) =>
      state.storage.sql.exec<{ bucket: string }>("SELECT bucket FROM hits ORDER BY rowid").toArray().map((r) => r.bucket),
    );
    expect(hits).toEqual(["login", "refresh", "signout", "sessions", "reset", "register"]);
    // Unlimited routes make no call at all.
    await call("/v1/auth/me", { ip });
    await call("/.well-known/jwks.json", { ip });
    expect(await inRateLimiter(ip, (state) => state.storage.sql.exec("SELECT count(*) AS n FROM hits").one().n)).toBe(6);
  });

  it("fifty limited requests leave fifty hits and fifty unlimited ones none (the cost is priced by npm run bench, not here)", async () => {
    const ip = freshIp();
    const rounds = 50;
    // Both answer 401 before any D1 read (no bearer token); only the second passes the limiter.
    for (let i = 0; i < rounds; i++) {
      expect((await call("/v1/auth/me", { ip })).status).toBe(401);
      expect((await call("/v1/auth/sessions", { ip })).status).toBe(401);
    }
    expect(await inRateLimiter(ip, (state) => state.storage.sql.exec("SELECT count(*) AS n FROM hits").one().n)).toBe(rounds);
  });
});
