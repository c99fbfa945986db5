/**
 * Staged activity drained soon (issue 27, slice 8; src/activity/drain.ts `drainStaged`,
 * src/sessions/user-object.ts `drainSoon` and `alarm`): a change that stages an event in D1 (through
 * `changeUser`, outside it, a counted failure, the object's own revocation, or rows an outbox batch
 * took) sets the user object's alarm within ACTIVITY_DRAIN_DELAY_MS, and the alarm keeps the rows in
 * the object, then deletes them from D1. The alarm is run at once (`runDurableObjectAlarm`), not
 * waited for. An alarm with nothing to drain makes no D1 write (no trip at all when nothing was
 * marked); a deleted account's object keeps no storage after its alarm.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { activityOf } from "../helpers/activity";
import { PASSWORD, call, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { objectStorage } from "../helpers/lifecycle";
import { countingD1, userObject } from "../helpers/edge";
import { attest, softCredential } from "../helpers/webauthn";
import { ACTIVITY_DRAIN_DELAY_MS } from "../../src/activity/object-log";
import { DRAIN_MARK } from "../../src/activity/drain";

const writes = (trip: string[]) => trip.some((q) => /^\s*(insert|update|delete|replace)\b/i.test(q));
const stagedCount = async (userId: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM activity WHERE user_id = ?").bind(userId).first<number>("n")) ?? 0;
/** The object's alarm (ms, or null) and whether its drain mark is set. */
const alarmOf = (userId: string) =>
  runInDurableObject(userObject(userId), async (_o: unknown, state: DurableObjectState) => ({ at: await state.storage.getAlarm(), marked: state.storage.kv.get(DRAIN_MARK) !== undefined }));
const runAlarm = (userId: string) => runDurableObjectAlarm(userObject(userId));
/** The types the activity list shows (first page). */
const listed = async (accessToken: string): Promise<string[]> => {
  const response = await call("/v1/auth/activity", { token: accessToken });
  expect(response.status).toBe(200);
  return ((await json(response)).events as Json[]).map((e) => e.type as string);
};
/** An account signed in, its earlier staged rows (the verification, the D1-path sign-in) drained by its alarm. */
async function drainedAccount(label: string) {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  await userObject(account.userId).settle();
  await runAlarm(account.userId);
  expect(await stagedCount(account.userId)).toBe(0);
  return { account, pair };
}

describe("staged activity drained soon by the user object's alarm", () => {
  it("a passkey registration (outside changeUser): staged, the alarm set within the delay, then kept in the object and gone from D1, listed once", async () => {
    const { account, pair } = await drainedAccount("drain-passkey");
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const response = await attest(await softCredential("ES256"), { challenge: options.challenge, userHandle: options.user.id });
    const before = Date.now();
    expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken })).status).toBe(201);
    // The object is told after the answer (waitUntil).
    await expect.poll(async () => (await alarmOf(account.userId)).marked).toBe(true);
    expect((await activityOf(account.userId, "passkey_added")).map((e) => e.place)).toEqual(["d1"]);
    const { at } = await alarmOf(account.userId);
    expect(at).not.toBeNull();
    expect(at!).toBeLessThanOrEqual(Date.now() + ACTIVITY_DRAIN_DELAY_MS);
    expect(at!).toBeGreaterThanOrEqual(before);
    expect(await runAlarm(account.userId)).toBe(true);
    expect(await stagedCount(account.userId)).toBe(0);
    expect((await activityOf(account.userId, "passkey_added")).map((e) => e.place)).toEqual(["object"]);
    expect((await alarmOf(account.userId)).marked).toBe(false);
    expect((await listed(pair.accessToken)).filter((t) => t === "passkey_added")).toHaveLength(1);
  });

  it("a password change (changeUser's endChange), and the failed sign-in before it: drained by one alarm, each listed once", async () => {
    const { account, pair } = await drainedAccount("drain-password");
    expect((await call("/v1/auth/login", { body: { email: account.email, password: "wrong-password-77" } })).status).toBe(401);
    const changed = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword: "another-Passw0rd-77" } });
    expect(changed.status).toBeLessThan(300);
    expect((await activityOf(account.userId, "password_changed")).map((e) => e.place)).toEqual(["d1"]);
    expect((await activityOf(account.userId, "sign_in_failed")).map((e) => e.place)).toEqual(["d1"]);
    expect((await alarmOf(account.userId)).at!).toBeLessThanOrEqual(Date.now() + ACTIVITY_DRAIN_DELAY_MS);
    expect(await runAlarm(account.userId)).toBe(true);
    expect(await stagedCount(account.userId)).toBe(0);
    const kept = await activityOf(account.userId);
    expect(kept.every((e) => e.place === "object")).toBe(true);
    const next = await login({ email: account.email, password: "another-Passw0rd-77" });
    const types = await listed(next.accessToken);
    expect(types.filter((t) => t === "password_changed")).toHaveLength(1);
    expect(types.filter((t) => t === "sign_in_failed")).toHaveLength(1);
  });

  it("a revoked session (the object's own revocation) is drained by the alarm, and listed once", async () => {
    const { account, pair } = await drainedAccount("drain-signout");
    const other = await login(account);
    expect((await call(`/v1/auth/sessions/${other.sessionId}`, { method: "DELETE", token: pair.accessToken })).status).toBe(204);
    await userObject(account.userId).settle();
    expect(await stagedCount(account.userId)).toBeGreaterThan(0);
    expect(await runAlarm(account.userId)).toBe(true);
    expect(await stagedCount(account.userId)).toBe(0);
    const revoked = (await activityOf(account.userId)).filter((e) => e.session_id === other.sessionId && e.type !== "sign_in");
    expect(revoked.map((e) => e.place)).toEqual(["object"]);
    expect((await listed(pair.accessToken)).filter((t) => t === revoked[0]!.type)).toHaveLength(1);
  });

  it("rows an object sign-in's outbox batch took (kept in both) leave D1 at the alarm, with no read: one delete", async () => {
    const { account } = await drainedAccount("drain-outbox");
    const id = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO activity (id, user_id, type, method, created_at, ip_address, user_agent, session_id) VALUES (?, ?, 'password_changed', NULL, ?, NULL, NULL, NULL)")
      .bind(id, account.userId, Date.now() - 60_000)
      .run();
    await login(account);
    await userObject(account.userId).settle();
    expect((await activityOf(account.userId, "password_changed")).map((e) => e.place)).toEqual(["both"]);
    expect((await alarmOf(account.userId)).at!).toBeLessThanOrEqual(Date.now() + ACTIVITY_DRAIN_DELAY_MS);
    const counted = await countingD1(account.userId, () => runAlarm(account.userId));
    expect(counted.value).toBe(true);
    expect(counted.objectSql).toHaveLength(1);
    expect(counted.objectSql[0]!.every((q) => /^\s*delete\b/i.test(q))).toBe(true);
    expect((await activityOf(account.userId, "password_changed")).map((e) => e.place)).toEqual(["object"]);
  });

  it("an alarm with nothing staged makes no D1 write (marked: one read; an object sign-in's alarm, unmarked: no trip at all)", async () => {
    const { account } = await drainedAccount("drain-nothing");
    // A sign-in started in the object stages nothing and marks nothing: its alarm (the outbox's retry) reads no D1.
    await login(account);
    await userObject(account.userId).settle();
    expect((await alarmOf(account.userId)).marked).toBe(false);
    const quiet = await countingD1(account.userId, () => runAlarm(account.userId));
    expect(quiet.objectTrips).toBe(0);
    // Marked with nothing staged: one read, no write, and the mark goes.
    await userObject(account.userId).drainSoon();
    const marked = await countingD1(account.userId, () => runAlarm(account.userId));
    expect(marked.value).toBe(true);
    expect(marked.objectTrips).toBe(1);
    expect(marked.objectSql.some(writes)).toBe(false);
    expect((await alarmOf(account.userId)).marked).toBe(false);
  });

  it("a deleted account's object keeps no storage after its alarm, also when told to drain after the deletion", async () => {
    const { account, pair } = await drainedAccount("drain-deleted");
    const changed = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword: "another-Passw0rd-77" } });
    expect(changed.status).toBeLessThan(300);
    const next = await login({ email: account.email, password: "another-Passw0rd-77" });
    expect((await call("/v1/auth/me", { method: "DELETE", token: next.accessToken, body: { password: "another-Passw0rd-77" } })).status).toBe(204);
    await runAlarm(account.userId);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    expect(await stagedCount(account.userId)).toBe(0);
    // A late stager (a failed sign-in racing the deletion) marks the erased object: its alarm reads, keeps nothing.
    await userObject(account.userId).drainSoon();
    expect(await runAlarm(account.userId)).toBe(true);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    const left = await runInDurableObject(userObject(account.userId), async (_o: unknown, state: DurableObjectState) => ({ keys: [...state.storage.kv.list()].length, alarm: await state.storage.getAlarm() }));
    expect(left).toEqual({ keys: 0, alarm: null });
  });
});
