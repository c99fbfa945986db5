/**
 * The far-user simulation's wrappers (bench/far/hops.ts, served by `npm run bench:far`): each D1
 * statement, batch and exec waits for the primary's round trip and is counted with D1's own meta;
 * Sessions-API reads wait for a replica instead; every object stub call waits and is counted; the
 * development mail outbox is kept out of the write figures. If these broke, the far/near table and
 * the capacity figures in BENCHMARKS.md would silently be wrong.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/bench/far-hops.test.ts
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { counters, emptyCount, farEnv } from "../../bench/far/hops";

const delays = { d1Ms: 60, doMs: 30, replicaMs: 5 };

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await fn();
  return { ms: Date.now() - started, value };
}

describe("bench/far/hops.ts", () => {
  beforeEach(() => {
    counters.totals = emptyCount();
    counters.request = emptyCount();
  });

  it("delays and counts a statement, with D1's rows read from its meta (first() has none of its own)", async () => {
    const far = farEnv(env, delays);
    const { ms, value } = await timed(() => far.DB.prepare("SELECT count(*) AS n FROM users").first<{ n: number }>());
    expect(typeof value?.n).toBe("number");
    expect(ms).toBeGreaterThanOrEqual(delays.d1Ms - 1);
    expect(counters.request.d1Trips).toBe(1);
    expect(counters.request.d1Serial).toBe(1);
    expect(counters.request.d1Writes).toBe(0);
    expect(counters.metaSeen).toBe(true);
    expect(counters.request.sizeAfter).toBeGreaterThan(0);
  });

  it("counts a batch as one trip and one write transaction, rows written by table", async () => {
    const far = farEnv(env, delays);
    const id = crypto.randomUUID();
    const now = Date.now();
    const { ms } = await timed(() =>
      far.DB.batch([
        far.DB.prepare("INSERT INTO users (id, is_guest, created_at, updated_at) VALUES (?, 1, ?, ?)").bind(id, now, now),
        far.DB.prepare("SELECT id FROM users WHERE id = ?").bind(id),
      ]),
    );
    expect(ms).toBeGreaterThanOrEqual(delays.d1Ms - 1);
    expect(counters.totals.d1Trips).toBe(1);
    expect(counters.totals.d1Writes).toBe(1);
    expect(counters.totals.rowsWritten).toBeGreaterThanOrEqual(1);
    expect(counters.totals.writtenByTable.users).toBeGreaterThanOrEqual(1);
    expect(counters.totals.changes).toBe(1);
  });

  it("keeps the development mail outbox out of the write figures", async () => {
    const far = farEnv(env, delays);
    await far.DB.prepare("INSERT INTO mail_outbox (id, \"to\", subject, text, html, created_at) VALUES (?, 'a@example.com', 's', 't', 'h', ?)")
      .bind(crypto.randomUUID(), Date.now())
      .run();
    expect(counters.totals.devOnlyRows).toBeGreaterThanOrEqual(1);
    expect(counters.totals.rowsWritten).toBe(0);
    expect(counters.totals.d1Writes).toBe(0);
  });

  it("sends Sessions-API reads to a replica and writes to the primary", async () => {
    const far = farEnv(env, delays);
    const session = far.DB.withSession("first-unconstrained");
    const read = await timed(() => session.prepare("SELECT 1 AS one").first());
    expect(read.ms).toBeLessThan(delays.d1Ms);
    expect(counters.totals.d1ReplicaTrips).toBe(1);
    expect(counters.totals.d1Trips).toBe(0);
    const write = await timed(() => session.prepare("DELETE FROM mail_outbox WHERE id = 'none'").run());
    expect(write.ms).toBeGreaterThanOrEqual(delays.d1Ms - 1);
    expect(counters.totals.d1Trips).toBe(1);
  });

  it("delays and counts every Durable Object stub call, by namespace", async () => {
    const far = farEnv(env, delays);
    const stub = far.USER_SESSIONS.get(far.USER_SESSIONS.idFromName(crypto.randomUUID()));
    const { ms, value } = await timed(() => stub.revokeToken("not-a-token"));
    expect(value).toBeNull();
    expect(ms).toBeGreaterThanOrEqual(delays.doMs - 1);
    expect(counters.totals.doCalls.USER_SESSIONS).toBe(1);
    const limiter = far.RATE_LIMITER.get(far.RATE_LIMITER.idFromName("203.0.113.9"));
    const decision = await limiter.consume("bench", 5, 60);
    expect(decision.allowed).toBe(true);
    expect(counters.totals.doCalls.RATE_LIMITER).toBe(1);
  });

  it("hands out one wrapped env per env, so per-binding caches stay warm", () => {
    expect(farEnv(env, delays)).toBe(farEnv(env, delays));
    expect(farEnv(env, delays).DB).not.toBe(env.DB);
  });
});
