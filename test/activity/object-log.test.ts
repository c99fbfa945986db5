/**
 * Activity kept in the user's object (issue 27, slice 5; src/activity/object-log.ts, drain.ts):
 * a sign-in started there keeps its `sign_in` there and never in D1; every other event is staged in
 * D1 by its change's batch and taken into the object by the next drain (the list, the admin view,
 * the outbox's batch), then deleted from D1; rows of the old layout are drained the same way; a row
 * found in both places is shown once; the object drops what is past ACTIVITY_RETENTION_DAYS.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { activityOf } from "../helpers/activity";
import { PASSWORD, call, inUserSessions, json, login, verifiedAccount } from "../helpers";
import { adminCall } from "../helpers/lifecycle";
import { countingD1 } from "../helpers/edge";
import { DRAIN_LIMIT } from "../../src/activity/object-log";
import type { Json } from "../helpers";

const DAY = 86_400_000;
/** A D1 trip that writes (a batch holding any write is one write transaction). */
const writes = (trip: string[]) => trip.some((q) => /^\s*(insert|update|delete|replace)\b/i.test(q));
const page = async (accessToken: string, query = ""): Promise<Json> => {
  const response = await call(`/v1/auth/activity${query}`, { token: accessToken });
  expect(response.status).toBe(200);
  return json(response);
};
const stagedCount = async (userId: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM activity WHERE user_id = ?").bind(userId).first<number>("n")) ?? 0;
const settle = (userId: string) => env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId)).settle();
/** What the old layout left: an event row in D1 only, as the code before slice 5 wrote it. */
const oldRow = (userId: string, type: string, at: number, id = crypto.randomUUID()) =>
  env.DB.prepare("INSERT INTO activity (id, user_id, type, method, created_at, ip_address, user_agent, session_id) VALUES (?, ?, ?, NULL, ?, '10.1.2.3', 'old agent', NULL)").bind(id, userId, type, at);

describe("activity in the user's object", () => {
  it("a sign-in started in the object keeps its sign_in there, never in D1", async () => {
    const account = await verifiedAccount("log-signin");
    await login(account);
    const pair = await login(account);
    await settle(account.userId);
    const signIns = (await activityOf(account.userId, "sign_in")).filter((e) => e.session_id === pair.sessionId);
    expect(signIns.map((e) => ({ place: e.place, method: e.method }))).toEqual([{ place: "object", method: "password" }]);
    const shown = (await page(pair.accessToken)).events as Json[];
    expect(shown[0]).toMatchObject({ type: "sign_in", method: "password", sessionId: pair.sessionId });
  });

  it("events staged in D1 move to the object at the next list: shown once each, then gone from D1", async () => {
    const account = await verifiedAccount("log-staged");
    const pair = await login(account);
    expect((await call("/v1/auth/login", { body: { email: account.email, password: "wrong-password-77" } })).status).toBe(401);
    const changed = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword: "another-Passw0rd-77" } });
    expect(changed.status).toBeLessThan(300);
    expect(await stagedCount(account.userId)).toBeGreaterThanOrEqual(2);
    const types = ((await page(pair.accessToken)).events as Json[]).map((e) => e.type);
    expect(types.filter((t) => t === "password_changed")).toHaveLength(1);
    expect(types.filter((t) => t === "sign_in_failed")).toHaveLength(1);
    // The release follows the answer, in the object's queue.
    await expect.poll(() => stagedCount(account.userId)).toBe(0);
    const kept = await activityOf(account.userId);
    expect(kept.every((e) => e.place === "object")).toBe(true);
    expect(((await page(pair.accessToken)).events as Json[]).map((e) => e.type)).toEqual(types);
  });

  it("a sign-in's owed batch takes what D1 staged, and the next one deletes it there: no D1 write of its own", async () => {
    const account = await verifiedAccount("log-outbox");
    await login(account);
    await settle(account.userId);
    await env.DB.batch([oldRow(account.userId, "password_changed", Date.now() - DAY)]);
    const placeOf = async () => (await activityOf(account.userId, "password_changed")).map((e) => e.place);
    const second = await countingD1(account.userId, async () => {
      await login(account);
      await settle(account.userId);
    });
    expect(await placeOf()).toEqual(["both"]);
    const third = await countingD1(account.userId, async () => {
      await login(account);
      await settle(account.userId);
    });
    expect(await placeOf()).toEqual(["object"]);
    // Each sign-in wrote D1 once from the object: its outbox's batch, the drain's read and delete inside it.
    for (const run of [second, third]) expect(run.objectSql.filter(writes)).toHaveLength(1);
    expect(third.objectSql.filter(writes)[0]!.some((q) => /^delete from "activity"/i.test(q))).toBe(true);
    expect(second.objectSql.filter(writes)[0]!.some((q) => /^select .* from "activity"/i.test(q))).toBe(true);
  });

  it("a backlog past DRAIN_LIMIT: every page exact, newest first, while each read drains DRAIN_LIMIT more", async () => {
    const account = await verifiedAccount("log-backlog");
    const pair = await login(account);
    await settle(account.userId);
    const base = Date.now() - 5 * DAY;
    const ids = Array.from({ length: 2 * DRAIN_LIMIT + 15 }, () => crypto.randomUUID());
    for (let i = 0; i < ids.length; i += 50) {
      await env.DB.batch(ids.slice(i, i + 50).map((id, j) => oldRow(account.userId, "sign_out", base + (i + j) * 1000, id)));
    }
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const next: Json = await page(pair.accessToken, `?limit=100${cursor ? `&before=${cursor}` : ""}`);
      seen.push(...(next.events as Json[]).map((e) => e.id));
      cursor = next.nextCursor;
    }
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    // Each list took DRAIN_LIMIT rows and deleted them from D1 after answering: a few more lists empty it.
    const left = [await stagedCount(account.userId)];
    for (let i = 0; i < 4 && left.at(-1)! > 0; i++) {
      await page(pair.accessToken, "?limit=1");
      await expect.poll(() => stagedCount(account.userId)).toBeLessThan(left.at(-1)!);
      left.push(await stagedCount(account.userId));
    }
    expect(left.at(-1)).toBe(0);
  });

  it("the old layout's rows (D1 only) are drained by the first read: every page, in order, nothing twice", async () => {
    const account = await verifiedAccount("log-old");
    const pair = await login(account);
    const base = Date.now() - 10 * DAY;
    const ids = Array.from({ length: 30 }, (_, i) => `0000000${i}`.slice(-8) + "-0000-4000-8000-000000000000");
    await env.DB.batch(ids.map((id, i) => oldRow(account.userId, i % 2 ? "sign_out" : "session_revoked", base + Math.floor(i / 3) * 1000, id)));
    const seen: Json[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const next: Json = await page(pair.accessToken, `?limit=7${cursor ? `&before=${cursor}` : ""}`);
      seen.push(...next.events);
      cursor = next.nextCursor;
    }
    const old = seen.filter((e) => ids.includes(e.id));
    const expected = ids.map((id, i) => ({ id, at: base + Math.floor(i / 3) * 1000 })).sort((x, y) => y.at - x.at || (x.id < y.id ? 1 : -1));
    expect(old.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(old[0]).toMatchObject({ ipAddress: "10.1.2.3", userAgent: "old agent", sessionId: null });
    await expect.poll(() => stagedCount(account.userId)).toBe(0);
  });

  it("a row in both places (kept, its D1 delete not yet done) is shown once, and leaves D1 at the next drain", async () => {
    const account = await verifiedAccount("log-both");
    const pair = await login(account);
    await settle(account.userId);
    const id = crypto.randomUUID();
    const at = Date.now() - 1000;
    await env.DB.batch([oldRow(account.userId, "password_reset", at, id)]);
    await inUserSessions(account.userId, (sql) =>
      sql.exec("INSERT INTO activity (id, type, method, created_at, ip_address, user_agent, session_id, staged) VALUES (?, 'password_reset', NULL, ?, NULL, NULL, NULL, 1)", id, at),
    );
    const events = (await page(pair.accessToken)).events as Json[];
    expect(events.filter((e) => e.id === id)).toHaveLength(1);
    await expect.poll(() => stagedCount(account.userId)).toBe(0);
    expect((await activityOf(account.userId, "password_reset")).map((e) => e.place)).toEqual(["object"]);
  });

  it("events past ACTIVITY_RETENTION_DAYS are neither kept nor shown", async () => {
    const account = await verifiedAccount("log-retention");
    const pair = await login(account);
    const old = crypto.randomUUID();
    const recent = crypto.randomUUID();
    await env.DB.batch([oldRow(account.userId, "sign_out", Date.now() - 91 * DAY, old), oldRow(account.userId, "sign_out", Date.now() - 89 * DAY, recent)]);
    const ids = ((await page(pair.accessToken)).events as Json[]).map((e) => e.id);
    expect(ids).toContain(recent);
    expect(ids).not.toContain(old);
    await expect.poll(() => stagedCount(account.userId)).toBe(0);
    expect((await activityOf(account.userId)).map((e) => e.id)).not.toContain(old);
  });

  it("the admin user view shows the object's events with the staged ones, newest first", async () => {
    const account = await verifiedAccount("log-admin");
    const pair = await login(account);
    const disabled = await adminCall(`/users/${account.userId}/disable`, { method: "POST" });
    expect(disabled.status).toBe(200);
    const detail = await json(await adminCall(`/users/${account.userId}`));
    const types = (detail.activity as Json[]).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["session_revoked", "account_disabled", "sign_in"]));
    const times = (detail.activity as Json[]).map((e) => Date.parse(e.createdAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect((detail.activity as Json[]).find((e) => e.type === "sign_in" && e.sessionId === pair.sessionId)).toMatchObject({ method: "password" });
    await expect.poll(() => stagedCount(account.userId)).toBe(0);
  });

  it("a list from an ended session is refused and takes nothing", async () => {
    const account = await verifiedAccount("log-ended");
    const pair = await login(account);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBeLessThan(300);
    const before = await activityOf(account.userId);
    expect(before.find((e) => e.type === "session_revoked" && e.session_id === pair.sessionId)?.place).toBe("d1");
    expect((await call("/v1/auth/activity", { token: pair.accessToken })).status).toBe(401);
    await settle(account.userId);
    expect(await activityOf(account.userId)).toEqual(before);
  });
});
