/**
 * Issue 27, slice 3: a sign-in starts its session in the user's object (src/sessions/session-start.ts)
 * and answers before the D1 writes it owes (src/sessions/outbox.ts), which follow, once, in order:
 * before any later operation of the object, any change's `beginChange`, and any D1 reader that
 * missed the session (src/sessions/settle.ts). The object's D1 binding is held shut here to show
 * what waits for it and what does not. Over HTTP in workerd, with the real D1 and objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-sign-in.test.ts
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signIn } from "../../src/sessions";
import { sql } from "drizzle-orm";
import { PASSWORD, call, guest, json, login, refreshWith, serviceDeps, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countingD1, holdObjectD1, userObject } from "../helpers/edge";
import { activityOf } from "../helpers/activity";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves to "waiting" when `promise` has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, sleep(ms).then(() => "waiting" as const)]);

const sessionRow = (sessionId: string) => env.DB.prepare("SELECT id, revoked_reason, first_refresh_token_hash FROM sessions WHERE id = ?").bind(sessionId).first<Json>();
const signInEvents = async (userId: string, sessionId: string) => (await activityOf(userId, "sign_in")).filter((e) => e.session_id === sessionId).length;
/** The user object's owed entries (JSON), read from its storage. */
const owedEntries = (userId: string) =>
  runInDurableObject(userObject(userId), (_instance: unknown, state: DurableObjectState) =>
    state.storage.sql.exec<{ json: string }>("SELECT json FROM d1_outbox ORDER BY seq").toArray().map((row) => row.json),
  );

/** An account whose object has read D1 once (its first sign-in): the next sign-in is decided with no D1 trip. */
async function warmAccount(label: string) {
  const account = await verifiedAccount(label);
  const first = await login(account);
  await userObject(account.userId).settle();
  return { account, first };
}

describe("a sign-in started in the user's object", () => {
  it("makes one D1 trip in the Worker (the lookup), none in the object before it answers", async () => {
    const { account } = await warmAccount("ss-trips");
    const run = await countingD1(account.userId, async (fetchAs) => {
      const response = await fetchAs("/v1/auth/login", { body: { email: account.email, password: account.password } });
      return { status: response.status, pair: (await json(response)) as Json };
    });
    expect(run.value.status).toBe(200);
    expect(run.workerTrips).toBe(1);
    // The object's one batch is the owed write, after the answer (the test below holds it shut).
    expect(run.objectTrips).toBeLessThanOrEqual(1);
    await userObject(account.userId).settle();
    expect(await sessionRow(run.value.pair.sessionId)).toMatchObject({ revoked_reason: null, first_refresh_token_hash: null });
  });

  it("answers while D1 is out of reach; me answers too; the writes follow once D1 is back, and a D1 reader that missed the session waits for them", async () => {
    const { account } = await warmAccount("ss-held");
    const gate = await holdObjectD1(account.userId);
    const answer = await within(call("/v1/auth/login", { body: { email: account.email, password: account.password } }), 3000);
    expect(answer).not.toBe("waiting");
    const pair = await json(answer as Response);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect(await sessionRow(pair.sessionId)).toBeNull();
    expect(await owedEntries(account.userId)).toHaveLength(1);
    // An authenticated route reads D1, misses the session, and asks the object to write what it owes.
    const activity = call("/v1/auth/activity", { token: pair.accessToken });
    expect(await within(activity, 300)).toBe("waiting");
    gate.open();
    const page = await json(await activity);
    expect(page.events.filter((e: Json) => e.type === "sign_in" && e.sessionId === pair.sessionId)).toHaveLength(1);
    expect(await owedEntries(account.userId)).toHaveLength(0);
    expect(await sessionRow(pair.sessionId)).toMatchObject({ revoked_reason: null });
    expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });

  it("after a sign-out (the object's own revocation) the next sign-in still needs no D1 trip, nor does the list", async () => {
    const { account, first } = await warmAccount("ss-after-signout");
    expect((await call("/v1/auth/revoke", { body: { refreshToken: first.refreshToken } })).status).toBeLessThan(300);
    const gate = await holdObjectD1(account.userId);
    const answer = await within(call("/v1/auth/login", { body: { email: account.email, password: account.password } }), 3000);
    expect(answer).not.toBe("waiting");
    const pair = await json(answer as Response);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    gate.open();
    // The owed writes first: their batch takes the revocation's event staged in D1 (slice 5; deleted there by the next batch).
    await userObject(account.userId).settle();
    const ended = (await activityOf(account.userId, "session_revoked")).filter((e) => e.session_id === first.sessionId);
    expect(ended.map((e) => e.place)).toEqual(["both"]);
    const list = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/sessions", { token: pair.accessToken }));
    expect((await json(list.value)).sessions.map((s: Json) => s.id)).toEqual([pair.sessionId]);
    expect({ worker: list.workerTrips, object: list.objectTrips }).toEqual({ worker: 0, object: 0 });
  });

  it("writes an entry once: one flushed again (an object that died before deleting it) changes nothing", async () => {
    const { account } = await warmAccount("ss-twice");
    const gate = await holdObjectD1(account.userId);
    const pair = await login(account);
    const [entry] = await owedEntries(account.userId);
    expect(entry).toBeDefined();
    gate.open();
    expect(await userObject(account.userId).settle()).toBe(true);
    const after = { row: await sessionRow(pair.sessionId), events: await signInEvents(account.userId, pair.sessionId) };
    expect(after.events).toBe(1);
    await runInDurableObject(userObject(account.userId), (_instance: unknown, state: DurableObjectState) => {
      state.storage.sql.exec("INSERT INTO d1_outbox (json) VALUES (?)", entry!);
    });
    expect(await userObject(account.userId).settle()).toBe(true);
    expect({ row: await sessionRow(pair.sessionId), events: await signInEvents(account.userId, pair.sessionId) }).toEqual(after);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
  });

  it("writes that failed stay owed across a restart, and the next call writes them", async () => {
    const { account } = await warmAccount("ss-restart");
    await holdObjectD1(account.userId, true);
    const pair = await login(account);
    await sleep(50);
    expect(await owedEntries(account.userId)).toHaveLength(1);
    expect(await sessionRow(pair.sessionId)).toBeNull();
    await evictDurableObject(userObject(account.userId));
    expect(await userObject(account.userId).settle()).toBe(true);
    expect(await sessionRow(pair.sessionId)).toMatchObject({ revoked_reason: null });
    expect(await signInEvents(account.userId, pair.sessionId)).toBe(1);
    expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });

  it("the 6th sign-in writes its evictions before it answers: the oldest is refused by every D1 reader at once", async () => {
    const { account, first } = await warmAccount("ss-limit");
    for (let i = 0; i < 4; i++) await login(account);
    await userObject(account.userId).settle();
    const gate = await holdObjectD1(account.userId);
    const sixth = call("/v1/auth/login", { body: { email: account.email, password: account.password } });
    expect(await within(sixth, 500)).toBe("waiting");
    gate.open();
    expect((await sixth).status).toBe(200);
    expect(await sessionRow(first.sessionId)).toMatchObject({ revoked_reason: "session_limit" });
    expect((await call("/v1/auth/activity", { token: first.accessToken })).status).toBe(401);
    expect((await call("/v1/auth/me", { token: first.accessToken })).status).toBe(401);
  });

  it("a guest-role sign-in of a guest upgraded since its lookup starts nothing, in the object or on the D1 path", async () => {
    const visitor = await guest();
    const upgraded = await call("/v1/auth/upgrade", { token: visitor.accessToken, body: { email: uniqueEmail("ss-upg"), username: uniqueUsername("ssupg"), password: PASSWORD } });
    expect(upgraded.status).toBe(201);
    const count = () => env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(visitor.user.id).first<number>("n");
    const before = await count();
    // As a passkey or identity sign-in whose lookup read the account while it was a guest.
    expect(await signIn(serviceDeps(), { userId: visitor.user.id, method: "passkey", role: "guest" })).toBeNull();
    // The D1 path (a condition of its own in the batch), whose guard checked no role before.
    expect(await signIn(serviceDeps(), { userId: visitor.user.id, method: "passkey", role: "guest", onlyIf: sql`1 = 1` })).toBeNull();
    await userObject(visitor.user.id).settle();
    expect(await count()).toBe(before);
  });

  it("a password hash that is no longer the account's starts nothing, in the object or in D1", async () => {
    const { account } = await warmAccount("ss-stale");
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n");
    const pair = await signIn(serviceDeps(), { userId: account.userId, method: "password", passwordHash: "pbkdf2$not-the-hash" });
    expect(pair).toBeNull();
    await userObject(account.userId).settle();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(before);
    expect(await owedEntries(account.userId)).toHaveLength(0);
  });

  it("a password changed since the object read the account: the old password's sign-in is refused, the new one's starts here", async () => {
    const { account, first } = await warmAccount("ss-changed");
    const changed = await call("/v1/auth/change-password", { body: { currentPassword: account.password, newPassword: "amber-quartz-meadow-77" }, token: first.accessToken });
    expect(changed.status).toBe(200);
    expect((await call("/v1/auth/login", { body: { email: account.email, password: account.password } })).status).toBe(401);
    const fresh = await json(await call("/v1/auth/login", { body: { email: account.email, password: "amber-quartz-meadow-77" } }));
    expect((await call("/v1/auth/me", { token: fresh.accessToken })).status).toBe(200);
    const warm = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/login", { body: { email: account.email, password: "amber-quartz-meadow-77" } }));
    expect(warm.value.status).toBe(200);
    expect(warm.workerTrips).toBe(1);
  });
});
