/**
 * Issue 27 for passkey sign-in (src/passkeys/login.ts): the attempt count shares the batch that
 * spends the challenge and reads the credential and its user, so the Worker makes one D1 trip fewer
 * than before (3 → 2 with today's `signIn`); the 429 past the account's limit is still decided
 * before the signature is checked; a passkey whose counter is 0 on both sides (no counter, WebAuthn
 * §6.1.1) signs in without a compare-and-set, and a non-zero counter keeps it. Over HTTP in workerd
 * with the real D1 and objects; D1 trips are counted by wrapping the binding (test/helpers/edge.ts).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/one-trip.test.ts
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { passkeys } from "../../src/passkeys/schema";
import { signIn } from "../../src/sessions";
import type { SignInInput } from "../../src/sessions/issue";
import { PASSWORD, call, callRequest, countingDb, env, expectError, json, login, serviceDeps, verifiedAccount } from "../helpers";
import type { CallOptions } from "../helpers";
import { countingD1 } from "../helpers/edge";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { countActivity } from "../helpers/activity";

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

describe("the attempt count in the first batch", () => {
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
    expect(await attemptCount(account.userId)).toBe(12);
  });

  it("under the limit, every try is counted before the check, and a success clears the count", async () => {
    const { account, credential } = await enrolled("pk-count-clear");
    for (let i = 0; i < 3; i++) await expectError(await passkeyLogin(credential, { origin: "https://evil.example" }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(3);
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200);
    // Cleared: count 0 (the row kept, its window restarted: src/rate-limit/index.ts clearLoginAttemptsStatement).
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("an unknown credential, or a spent, unknown or expired challenge, counts nothing and is 401 invalid_credentials", async () => {
    const { account, credential } = await enrolled("pk-count-nothing");
    // An unknown credential: the batch writes nothing but the challenge's spend, under any key.
    const stranger = await softCredential("ES256");
    const unknown = await recorded("/v1/auth/passkeys/login", { body: await signInBody({ ...stranger, userHandle: credential.userHandle }) });
    await expectError(unknown.response, 401, "invalid_credentials");
    expect(unknown.batches).toHaveLength(1);
    expect(unknown.batches[0]!.map((result) => result.meta.changes)).toEqual([0, 1, 0, 0]);

    // A spent challenge with the right credential: nothing counted, nothing spent.
    const used = await signInBody(credential, { counter: 0 });
    expect((await call("/v1/auth/passkeys/login", { body: used })).status).toBe(200);
    const replay = await recorded("/v1/auth/passkeys/login", { body: used });
    await expectError(replay.response, 401, "invalid_credentials");
    expect(replay.batches.map((results) => results.map((result) => result.meta.changes))).toEqual([[0, 0, 0, 0]]);

    // An unknown challenge id, and an expired challenge.
    const made = await signInBody(credential, { counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { ...made, challengeId: crypto.randomUUID() } }), 401, "invalid_credentials");
    await env.DB.prepare("UPDATE webauthn_challenges SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, made.challengeId).run();
    await expectError(await call("/v1/auth/passkeys/login", { body: made }), 401, "invalid_credentials");
    // Nothing counted: no row, or the one the success above cleared (count 0).
    expect((await attemptCount(account.userId)) ?? 0).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
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
    expect((await passkeyLogin(credential, { counter: 10 })).status).toBe(200);
  });
});
