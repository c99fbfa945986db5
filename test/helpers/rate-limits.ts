/**
 * The real rate limiter as tests see it: its object for an address, breaking it on purpose, and
 * assertions on RateLimit-* headers and shared buckets.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { migrate } from "../../src/db/object-migrations";
import { RATE_LIMITER_MIGRATIONS } from "../../src/rate-limit/limiter-object";
import { call, expectError, freshIp } from "./http";
import type { CallOptions } from "./http";

/** Sends `count` identical calls from one address, one after another; returns their statuses. */
export async function statuses(count: number, path: string, options: CallOptions): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push((await call(path, options)).status);
  return result;
}

/** The real RateLimiter object that limits `ip` (keyed as the service keys it: IPv6 by /64). */
export async function rateLimiterOf(ip: string) {
  const { clientKey } = await import("../../src/rate-limit");
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(clientKey(ip)));
}

/** Runs `fn` against the storage of the real RateLimiter object that limits `ip`. */
export async function inRateLimiter<T>(ip: string, fn: (state: DurableObjectState) => T | Promise<T>): Promise<T> {
  const { runInDurableObject } = await import("cloudflare:test");
  return runInDurableObject(await rateLimiterOf(ip), (_instance: unknown, state: DurableObjectState) => fn(state));
}

/**
 * Fault injection with the real object: drops the limiter's table for `ip`, so its next call
 * throws (as a broken or unreachable limiter would) until the object is rebuilt.
 */
export async function breakRateLimiter(ip: string): Promise<void> {
  await inRateLimiter(ip, (state) => {
    migrateRateLimiter(state);
    state.storage.sql.exec("DROP TABLE hits");
  });
}

/** Brings a limiter object's storage to its schema, as its first call would (it migrates lazily). */
export function migrateRateLimiter(state: DurableObjectState): void {
  migrate(state.storage, RATE_LIMITER_MIGRATIONS);
}

/** Asserts the RateLimit-* headers of a limited answer. */
export function expectRateHeaders(response: Response, limit: number, remaining?: number): void {
  expect(response.headers.get("RateLimit-Limit")).toBe(String(limit));
  const left = Number(response.headers.get("RateLimit-Remaining"));
  if (remaining !== undefined) expect(left).toBe(remaining);
  else expect(left >= 0 && left <= limit).toBe(true);
  expect(Number(response.headers.get("RateLimit-Reset"))).toBeGreaterThanOrEqual(1);
}

/** Asserts a §5 429: the body, Retry-After, and RateLimit-* headers with nothing remaining. */
export async function expectRateLimited(response: Response, limit: number): Promise<void> {
  const body = await expectError(response, 429, "rate_limited");
  expect(Object.keys(body).sort()).toEqual(["error", "message", "statusCode"]);
  expect(Number(response.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
  expectRateHeaders(response, limit, 0);
}

/** A route of a rate-limit bucket, and a request to send it (its answer may be any error but 429). */
export interface Door {
  path: string;
  options: CallOptions;
}

/**
 * From one fresh address, spends a bucket's `limit` round-robin over `doors`, then expects every door
 * to answer 429: a door with a bucket of its own would still have room, so this shows they share one.
 */
export async function expectSharedBucket(doors: Door[], limit: number): Promise<string> {
  const ip = freshIp();
  for (let i = 0; i < limit; i++) {
    const door = doors[i % doors.length]!;
    const response = await call(door.path, { ...door.options, ip });
    expect(response.status, `${door.path} #${i + 1}`).not.toBe(429);
    expectRateHeaders(response, limit, limit - i - 1);
  }
  for (const door of doors) await expectRateLimited(await call(door.path, { ...door.options, ip }), limit);
  return ip;
}
