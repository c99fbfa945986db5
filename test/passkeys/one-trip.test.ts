/**
 * Issue 27 for passkey sign-in (src/passkeys/login.ts): the options make no D1 trip (the challenge
 * is derived from its id, src/passkeys/login-challenge.ts); the sign-in spends the challenge in its
 * own Durable Object while one D1 read finds the credential, its user and the account's count, and
 * writes nothing before the session (slice 6: a passkey sign-in writes D1 once, its session's batch);
 * the 429 past the account's limit is decided by the account's gate before the signature's answer is
 * used; a passkey whose counter is 0 on both sides (no counter, WebAuthn §6.1.1) signs in without a
 * compare-and-set, and a non-zero counter keeps it. Over HTTP in workerd with the real D1 and
 * objects; D1 trips are counted by wrapping the binding (test/helpers/edge.ts).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/one-trip.test.ts
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { passkeys } from "../../src/passkeys/schema";
import { signIn } from "../../src/sessions";
import type { SignInInput } from "../../src/sessions/issue";
import { PASSWORD, call, callRequest, countingDb, env, expectError, json, login, serviceDeps, verifiedAccount } from "../helpers";
import type { CallOptions } from "../helpers";
import { countingD1, userObject } from "../helpers/edge";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { countActivity } from "../helpers/activity";
import { CHALLENGE_TTL_MS } from "../../src/passkeys/challenges";
import { loginChallengeOf, uuidV7 } from "../../src/passkeys/login-challenge";

/** An account with a password and one ES256 passkey registered with counter 0. */
async function enrolled(label: string) {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken })).status).toBe(201);
  return { account, credential };
}

/** A sign-in body: fresh login options, answered by `credential` with `bend` (counter, keys…). */
async function signInBody(credential: SoftCredential, bend: Partial<Parameters<typeof assert>[1]> = {}) {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
  return { challengeId, response: await assert(credential, { challenge: options.challenge, ...bend }) };
}

const passkeyLogin = async (credential: SoftCredential, bend: Partial<Parameters<typeof assert>[1]> = {}) =>
  call("/v1/auth/passkeys/login", { body: await signInBody(credential, bend) });

/**
 * Sends one request to the Worker with a D1 binding that keeps every prepared statement's SQL and
 * every batch's results (D1Result[]), so a test can see what a request wrote.
 */
async function recorded(path: string, options: CallOptions) {
  const queries: string[] = [];
  const batches: D1Result[][] = [];
  const db = env.DB;
  const recording = {
    prepare: (query: string) => {
      queries.push(query);
      return db.prepare(query);
    },
    batch: async (statements: D1PreparedStatement[]) => {
      const results = await db.batch(statements);
      batches.push(results as D1Result[]);
      return results;
    },
    exec: (query: string) => db.exec(query),
    dump: () => db.dump(),
    withSession: (...args: Parameters<D1Database["withSession"]>) => db.withSession(...args),
  } as unknown as D1Database;
  const ctx = createExecutionContext();
  const response = (await worker.fetch!(callRequest(path, options) as never, { ...env, DB: recording } as Env, ctx)) as unknown as Response;
  await waitOnExecutionContext(ctx);
  return { response, queries, batches };
}

/** A statement that guards or sets the signature counter (a SELECT's column list does neither). */
const TOUCHES_COUNTER = /"sign_count" = /;

const sessionCount = async (userId: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(userId).first<number>("n")) ?? 0;
const attemptCount = (userId: string) => env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count");
const passkeyRow = (userId: string) =>
  env.DB.prepare("SELECT sign_count, last_used_at, backed_up FROM passkeys WHERE user_id = ?").bind(userId).first<{ sign_count: number; last_used_at: number | null; backed_up: number }>();
const failedEvents = (userId: string) => countActivity(userId, "sign_in_failed", "passkey");

/**
 * The D1 trips `signIn` itself makes for a fresh account, called directly (not through a passkey):
 * in the Worker (its `waitUntil` work included) and in the user's object. `guarded`: with an
 * `onlyIf`, as a non-zero counter's sign-in; otherwise without, as a zero counter's. Each with one
 * `alsoRun` statement, as the passkey sign-in has.
 */
async function signInTrips(guarded: boolean) {
  const { userId } = await verifiedAccount(`pk-direct-${guarded}`);
  const inWorker = countingDb();
  const pending: Promise<unknown>[] = [];
  const deps = { ...serviceDeps(), env: { ...env, DB: inWorker.db } as Env, waitUntil: (p: Promise<unknown>) => void pending.push(p) };
  const db = drizzle(deps.env.DB);
  const input: SignInInput = {
    userId,
    method: "passkey",
    alsoRun: [db.update(passkeys).set({ name: sql`${passkeys.name}` }).where(eq(passkeys.userId, userId))],
    ...(guarded ? { onlyIf: sql`1 = 1` } : {}),
  };
  const run = await countingD1(userId, async () => {
    const pair = await signIn(deps, input);
    await Promise.all(pending);
    return pair;
  });
  expect(run.value?.sessionId).toEqual(expect.any(String));
  return { worker: inWorker.trips(), object: run.objectTrips };
}

describe("a passkey sign-in makes one D1 trip before signIn", () => {
  it("zero and non-zero counters: the first batch, then exactly what signIn makes (2 Worker trips for a compare-and-set; 3 before)", async () => {
    const { account, credential } = await enrolled("pk-trips");
    const unguarded = await signInTrips(false);
    const guarded = await signInTrips(true);

    const zero = await signInBody(credential, { counter: 0 });
    const zeroRun = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/passkeys/login", { body: zero }));
    expect(zeroRun.value.status).toBe(200);
    // Unguarded, the session starts in the user's object (issue 27, slice 3): its D1 writes follow the
    // answer from the object (a cold object also reads once first), so only the Worker's trips are compared.
    expect(zeroRun.workerTrips).toBe(1 + unguarded.worker);
    expect(zeroRun.workerTrips).toBe(1);

    const counted = await signInBody(credential, { counter: 5 });
    const countedRun = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/passkeys/login", { body: counted }));
    expect(countedRun.value.status).toBe(200);
    expect({ worker: countedRun.workerTrips, object: countedRun.objectTrips }).toEqual({ worker: 1 + guarded.worker, object: guarded.object });
    // A compare-and-set sign-in is the first batch and signIn's one batch: 2 (the count was a third).
    expect(countedRun.workerTrips).toBe(2);
    expect(zeroRun.workerTrips).toBeLessThanOrEqual(2);
    expect((await passkeyRow(account.userId))?.sign_count).toBe(5);
  });

  it("a refusal before the signature check (429) costs the first batch alone", async () => {
    const { account, credential } = await enrolled("pk-trips-429");
    for (let i = 0; i < 10; i++) await expectError(await passkeyLogin(credential, { uv: false }), 401, "invalid_credentials");
    const body = await signInBody(credential);
    const run = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/passkeys/login", { body }));
    await expectError(run.value, 429, "rate_limited");
    expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 1, object: 0 });
  });
});

describe("the account's gate", () => {
  it("429 past the account's limit before the signature is checked: a forged assertion is 429, not 401, and nothing is recorded", async () => {
    const { account, credential } = await enrolled("pk-429-first");
    // The passkey's count is the account's `login:<user id>`, the one wrong passwords fill.
    for (let i = 0; i < 10; i++) await expectError(await call("/v1/auth/login", { body: { email: account.email, password: `${PASSWORD}-wrong` } }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(10);
    // Another key signing for this credential id and handle: a 401 if the signature were checked first.
    const forger = { ...(await softCredential("ES256")), id: credential.id, userHandle: credential.userHandle };
    const forged = await passkeyLogin(forger);
    await expectError(forged, 429, "rate_limited");
    expect(Number(forged.headers.get("retry-after"))).toBeGreaterThan(0);
    // A right assertion is refused alike, and leaves the passkey, the sessions and the events as they were.
    const sessionsBefore = await sessionCount(account.userId);
    await expectError(await passkeyLogin(credential, { counter: 3 }), 429, "rate_limited");
    expect(await passkeyRow(account.userId)).toMatchObject({ sign_count: 0, last_used_at: null });
    expect(await sessionCount(account.userId)).toBe(sessionsBefore);
    expect(await failedEvents(account.userId)).toBe(0);
    // Refused by the gate before anything was checked: counted nowhere (as a password's 429 since slice 4).
    expect(await attemptCount(account.userId)).toBe(10);
  });

  it("under the limit, every failed try is counted, and a success clears the count", async () => {
    const { account, credential } = await enrolled("pk-count-clear");
    for (let i = 0; i < 3; i++) await expectError(await passkeyLogin(credential, { origin: "https://evil.example" }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(3);
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200);
    // Cleared: count 0 (the row kept, its window restarted: src/rate-limit/index.ts clearLoginAttemptsStatement).
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("an unknown credential, or a used, malformed, expired or future challenge, counts nothing and is 401 invalid_credentials", async () => {
    const { account, credential } = await enrolled("pk-count-nothing");
    // An unknown credential: one D1 read batch that writes nothing (the challenge is spent in its object).
    const stranger = await softCredential("ES256");
    const unknown = await recorded("/v1/auth/passkeys/login", { body: await signInBody({ ...stranger, userHandle: credential.userHandle }) });
    await expectError(unknown.response, 401, "invalid_credentials");
    expect(unknown.batches).toHaveLength(1);
    expect(unknown.batches[0]!.map((result) => result.meta.rows_written)).toEqual([0, 0, 0]);

    // A used challenge with the right credential: the same one read, nothing counted or written.
    const used = await signInBody(credential, { counter: 0 });
    expect((await call("/v1/auth/passkeys/login", { body: used })).status).toBe(200);
    const replay = await recorded("/v1/auth/passkeys/login", { body: used });
    await expectError(replay.response, 401, "invalid_credentials");
    expect(replay.batches.map((results) => results.map((result) => result.meta.rows_written))).toEqual([[0, 0, 0]]);

    // Not a UUID version 7 (the ids of the version before, or made up), expired, or from the future:
    // refused by the id alone, with no D1 trip and no object.
    const made = await signInBody(credential, { counter: 0 });
    const config = serviceDeps().config;
    const aged = uuidV7(Date.now() - CHALLENGE_TTL_MS - 1_000);
    const future = uuidV7(Date.now() + 60_000);
    for (const challengeId of [crypto.randomUUID(), aged, future]) {
      // Each answered with its own derived challenge, so only the id's age or form can refuse it.
      const expected = (await loginChallengeOf(config, challengeId, parseInt(challengeId.slice(0, 8) + challengeId.slice(9, 13), 16)))?.challenge ?? "A".repeat(43);
      const body = { challengeId, response: await assert(credential, { challenge: expected, counter: 0 }) };
      const run = await recorded("/v1/auth/passkeys/login", { body });
      await expectError(run.response, 401, "invalid_credentials");
      expect(run.queries).toEqual([]);
    }
    // The options' own challenge is still answerable after all that.
    expect((await call("/v1/auth/passkeys/login", { body: made })).status).toBe(200);
    // Nothing counted: no row, or the one the successes above cleared (count 0).
    expect((await attemptCount(account.userId)) ?? 0).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
  });
});

describe("the challenge (slice 6: no D1 row)", () => {
  it("the options make no D1 trip: a UUID version 7 and a 32-byte challenge derived from it", async () => {
    const run = await recorded("/v1/auth/passkeys/login/options", { method: "POST" });
    expect(run.response.status).toBe(200);
    expect(run.queries).toEqual([]);
    const { challengeId, options } = await json(run.response);
    expect(challengeId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Buffer.from(options.challenge, "base64url")).toHaveLength(32);
    expect((await loginChallengeOf(serviceDeps().config, challengeId, Date.now()))?.challenge).toBe(options.challenge);
    // Two options, two different challenges.
    const again = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    expect(again.options.challenge).not.toBe(options.challenge);
  });

  it("is spent by its first use, right or wrong", async () => {
    const { account, credential } = await enrolled("pk-first-use");
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    // First use: a wrong origin (counted as a failure, with its event).
    const wrong = await assert(credential, { challenge: options.challenge, origin: "https://evil.example" });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: wrong } }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(1);
    // The right assertion to the same challenge: refused, and not counted (the challenge was used).
    const right = await assert(credential, { challenge: options.challenge, counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: right } }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(1);
    expect(await failedEvents(account.userId)).toBe(1);
  });

  it("of one challenge used five times at once, exactly one signs in", async () => {
    const { account, credential } = await enrolled("pk-spend-race");
    const body = await signInBody(credential, { counter: 0 });
    const sessionsBefore = await sessionCount(account.userId);
    const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401]);
    await userObject(account.userId).settle();
    expect(await sessionCount(account.userId)).toBe(sessionsBefore + 1);
  });

  it("its object keeps one mark, and its alarm forgets it", async () => {
    const { credential } = await enrolled("pk-spend-alarm");
    const body = await signInBody(credential, { counter: 0 });
    expect((await call("/v1/auth/passkeys/login", { body })).status).toBe(200);
    const stub = env.LOGIN_CHALLENGES.get(env.LOGIN_CHALLENGES.idFromName(body.challengeId));
    const kept = await runInDurableObject(stub, async (_object, state) => ({ keys: [...state.storage.kv.list()].map(([key]) => key), alarm: await state.storage.getAlarm() }));
    expect(kept.keys).toEqual(["spent"]);
    const made = parseInt(body.challengeId.slice(0, 8) + body.challengeId.slice(9, 13), 16);
    // Kept a full lifetime past the challenge's expiry: until then its id's age alone would not refuse it.
    expect(kept.alarm).toBe(made + 2 * CHALLENGE_TTL_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await runInDurableObject(stub, (_object, state) => [...state.storage.kv.list()].length);
    expect(after).toBe(0);
  });
});

describe("the signature counter (WebAuthn §6.1.1)", () => {
  it("a counter that is 0 on both sides signs in with no compare-and-set; its last use and backed-up flag are stored", async () => {
    const { account, credential } = await enrolled("pk-zero-cas");
    // Stored as backed up: the assertion's BS flag (0) must replace it.
    await env.DB.prepare("UPDATE passkeys SET backed_up = 1 WHERE user_id = ?").bind(account.userId).run();
    const before = Date.now();
    const run = await recorded("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 0 }) });
    expect(run.response.status).toBe(200);
    expect((await json(run.response)).user.id).toBe(account.userId);
    expect(run.queries.filter((q) => TOUCHES_COUNTER.test(q))).toEqual([]);
    const row = await passkeyRow(account.userId);
    expect(row).toMatchObject({ sign_count: 0, backed_up: 0 });
    expect(row!.last_used_at).toBeGreaterThanOrEqual(before);
    expect(row!.last_used_at).toBeLessThanOrEqual(Date.now());
    const listed = await json(await call("/v1/auth/passkeys", { token: (await json(await passkeyLogin(credential, { counter: 0 }))).accessToken }));
    expect(listed.passkeys[0].lastUsedAt).toEqual(expect.any(String));

    // Last use never moves backwards (a later sign-in's write may land first).
    const later = Date.now() + 60_000;
    await env.DB.prepare("UPDATE passkeys SET last_used_at = ? WHERE user_id = ?").bind(later, account.userId).run();
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200);
    expect((await passkeyRow(account.userId))?.last_used_at).toBe(later);

    // Two at once, each with its own challenge: both sign in (nothing to compare), and a replayed
    // assertion is still refused by its spent challenge.
    const sessionsBefore = await sessionCount(account.userId);
    const bodies = [await signInBody(credential, { counter: 0 }), await signInBody(credential, { counter: 0 })];
    const statuses = await Promise.all(bodies.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(statuses).toEqual([200, 200]);
    expect(await sessionCount(account.userId)).toBe(sessionsBefore + 2);
    await expectError(await call("/v1/auth/passkeys/login", { body: bodies[0] }), 401, "invalid_credentials");
  });

  it("a non-zero counter is compare-and-set: stored with the session, and a replayed value is refused", async () => {
    const { account, credential } = await enrolled("pk-nonzero-cas");
    const first = await recorded("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 1 }) });
    expect(first.response.status).toBe(200);
    expect(first.queries.filter((q) => TOUCHES_COUNTER.test(q)).length).toBeGreaterThan(0);
    expect(await passkeyRow(account.userId)).toMatchObject({ sign_count: 1, last_used_at: expect.any(Number) });

    // The same value again (a cloned authenticator, or a replayed signature over a new challenge), or 0.
    await expectError(await passkeyLogin(credential, { counter: 1 }), 401, "invalid_credentials");
    await expectError(await passkeyLogin(credential, { counter: 0 }), 401, "invalid_credentials");
    expect(await failedEvents(account.userId)).toBe(2);
    expect((await passkeyRow(account.userId))?.sign_count).toBe(1);

    // Two assertions with one counter value at once: only one session.
    const sessionsBefore = await sessionCount(account.userId);
    const bodies = [await signInBody(credential, { counter: 9 }), await signInBody(credential, { counter: 9 })];
    const statuses = await Promise.all(bodies.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(statuses.sort()).toEqual([200, 401]);
    expect(await sessionCount(account.userId)).toBe(sessionsBefore + 1);
    expect((await passkeyRow(account.userId))?.sign_count).toBe(9);
    // The loser's counter did not increase past the winner's: refused and recorded (API.md §12).
    expect(await failedEvents(account.userId)).toBe(3);
    expect((await passkeyLogin(credential, { counter: 10 })).status).toBe(200);
  });
});
