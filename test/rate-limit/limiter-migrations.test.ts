/**
 * The RateLimiter object's versioned schema (RATE_LIMITER_MIGRATIONS, src/db/object-migrations.ts):
 * stored in the object, kept across a next version without losing counted hits, applied by a new
 * object's first call, and re-created by the first call after the alarm cleared the object's storage.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { migrate, schemaVersion } from "../../src/db/object-migrations";
import { RATE_LIMITER_MIGRATIONS } from "../../src/rate-limit/limiter-object";
import type { RateLimiter } from "../../src/rate-limit/limiter-object";
import { freshIp, inRateLimiter, rateLimiterOf } from "../helpers";

/** The object's own tables (SQLite's and the platform's left out), by name. */
function userTables(sql: SqlStorage): string[] {
  return sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
    .toArray()
    .map((row) => row.name);
}

describe("the limiter's schema version", () => {
  it("moves to a next version keeping the hits it counted", async () => {
    const ip = freshIp();
    const limiter = await rateLimiterOf(ip);
    for (let i = 0; i < 3; i++) expect((await limiter.consume("login", 3, 60)).allowed).toBe(true);
    expect(await inRateLimiter(ip, (state) => schemaVersion(state.storage.sql))).toBe(RATE_LIMITER_MIGRATIONS.length);

    const next = (sql: SqlStorage) => void sql.exec("ALTER TABLE hits ADD COLUMN weight INTEGER");
    const reached = await inRateLimiter(ip, (state) => migrate(state.storage, [...RATE_LIMITER_MIGRATIONS, next]));
    expect(reached).toBe(RATE_LIMITER_MIGRATIONS.length + 1);
    // Restarted on code one version behind: the three hits still count, the fourth is refused.
    await evictDurableObject(limiter);
    expect((await limiter.consume("login", 3, 60)).allowed).toBe(false);
    expect(await inRateLimiter(ip, (state) => schemaVersion(state.storage.sql))).toBe(reached);
  });

  it("re-creates the schema, versioned, after the alarm cleared the storage", async () => {
    const ip = freshIp();
    const limiter = await rateLimiterOf(ip);
    expect((await limiter.consume("login", 1, 1)).allowed).toBe(true);
    // Once its one-second window has passed, the hit has expired: the alarm clears the storage.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const tables = await runInDurableObject(limiter, async (instance: RateLimiter, state) => {
      await instance.alarm();
      return userTables(state.storage.sql);
    });
    expect(tables).toEqual([]);
    // The next call migrates again: the same instance, and one started after eviction alike.
    expect((await limiter.consume("login", 1, 60)).allowed).toBe(true);
    expect(await inRateLimiter(ip, (state) => schemaVersion(state.storage.sql))).toBe(RATE_LIMITER_MIGRATIONS.length);
    expect(await inRateLimiter(ip, (state) => userTables(state.storage.sql))).toEqual(["hits", "schema_version"]);
  });

  it("a new object migrates on its first call, not before", async () => {
    const ip = freshIp();
    const limiter = await rateLimiterOf(ip);
    expect(await inRateLimiter(ip, (state) => userTables(state.storage.sql))).toEqual([]);
    expect((await limiter.consume("login", 1, 60)).allowed).toBe(true);
    expect(await inRateLimiter(ip, (state) => schemaVersion(state.storage.sql))).toBe(RATE_LIMITER_MIGRATIONS.length);
  });
});
