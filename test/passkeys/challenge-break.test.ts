/**
 * Trying to break slice 6 of issue 27 (a85e067): passkey sign-in challenges derived from a UUID
 * version 7 id (src/passkeys/login-challenge.ts), spent in their own Durable Object
 * (src/passkeys/challenge-object.ts), the check gated in the account's object as a password's
 * (src/rate-limit/login-attempt.ts, attempt-gate.ts). Over HTTP in workerd with the real D1 and
 * objects; faults are injected only by handing the Worker an env whose one binding misbehaves.
 *
 * What is attacked: the id's spellings and forgeries, its lifetime edges, the other ceremony's ids,
 * replays at once, the account's 10 failed logins shared with passwords under parallel load, leaked
 * reservations, disabled, deleted and guest accounts, second-factor accounts (aal2), racing
 * counters, unreachable objects (503, never 500) and secrets in answers and logs.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/challenge-break.test.ts
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CHALLENGE_TTL_MS } from "../../src/passkeys/challenges";
import { FUTURE_SKEW_MS, loginChallengeOf, uuidV7, uuidV7Time } from "../../src/passkeys/login-challenge";
import { PASSWORD, adminCall, call, captureLogs, claims, env, expectError, guest, json, login, rowsOfUser, serviceDeps, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countActivity } from "../helpers/activity";
import { fetchWith, userObject } from "../helpers/edge";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { enableMfa } from "../mfa/helpers";

type Bend = Partial<Parameters<typeof assert>[1]>;
type Send = (path: string, options: Parameters<typeof call>[1]) => Promise<Response>;

/** Registers a new ES256 software credential (counter 0) for the token's account. */
async function addPasskey(token: string): Promise<SoftCredential> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token })).status).toBe(201);
  return credential;
}

/** A verified password account with one passkey. */
async function enrolled(label: string) {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  return { account, pair, credential: await addPasskey(pair.accessToken) };
}

/** Fresh sign-in options: the id and the challenge (base64url). */
async function loginOptions(send: Send = call): Promise<{ challengeId: string; challenge: string }> {
  const response = await send("/v1/auth/passkeys/login/options", { method: "POST" });
  expect(response.status).toBe(200);
  const { challengeId, options } = await json(response);
  return { challengeId, challenge: options.challenge };
}

/** A sign-in body: fresh options answered by `credential` bent by `bend`. */
async function signInBody(credential: SoftCredential, bend: Bend = {}, send: Send = call) {
  const { challengeId, challenge } = await loginOptions(send);
  return { challengeId, response: await assert(credential, { challenge, ...bend }) };
}

const passkeyLogin = async (credential: SoftCredential, bend: Bend = {}, send: Send = call) =>
  send("/v1/auth/passkeys/login", { body: await signInBody(credential, bend, send) });

const wrongPassword = (email: string, send: Send = call) => send("/v1/auth/login", { body: { email, password: `${PASSWORD}-wrong` } });

/** The account's failed-login count in D1 (`login:<user id>`), 0 when it has no row. */
const attemptCount = async (userId: string) =>
  (await env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count")) ?? 0;
const failedEvents = (userId: string, method?: string) => countActivity(userId, "sign_in_failed", method);
/** Live sessions in D1, once the user's object wrote what it owes. */
async function liveSessions(userId: string): Promise<number> {
  await userObject(userId).settle();
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(userId).first<number>("n")) ?? 0;
}
const signCount = (userId: string) => env.DB.prepare("SELECT sign_count FROM passkeys WHERE user_id = ?").bind(userId).first<number>("sign_count");
/** What the challenge's own object keeps (its synchronous KV), without creating anything but an empty object. */
const challengeMarks = (challengeId: string) =>
  runInDurableObject(env.LOGIN_CHALLENGES.get(env.LOGIN_CHALLENGES.idFromName(challengeId)), async (_object, state) => ({
    keys: [...state.storage.kv.list()].map(([key]) => key),
    alarm: await state.storage.getAlarm(),
  }));

/** How many of each status. */
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((all, s) => ({ ...all, [s]: (all[s] ?? 0) + 1 }), {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends to the Worker with `environment` instead of the real bindings (test/helpers/edge.ts). */
const via = (environment: Env): Send => (path, options) => fetchWith(environment, path, options);

/** A UUID with the id's letters upper-cased at every other position (mixed case). */
const mixedCase = (id: string) => [...id].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join("");

describe("the challenge id: spellings, forgeries, lifetime", () => {
  it("upper- and mixed-case spellings name the same challenge: six at once in three spellings sign in once", async () => {
    const { account, credential } = await enrolled("pkb-case");
    const before = await liveSessions(account.userId);
    const body = await signInBody(credential, { counter: 0 });
    const spellings = [body.challengeId, body.challengeId.toUpperCase(), mixedCase(body.challengeId)];
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => (await call("/v1/auth/passkeys/login", { body: { ...body, challengeId: spellings[i % 3] } })).status),
    );
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401, 401]);
    expect(await liveSessions(account.userId)).toBe(before + 1);
    // An upper-case first use spends the lower-case spelling too.
    const upper = await signInBody(credential, { counter: 0 });
    expect((await call("/v1/auth/passkeys/login", { body: { ...upper, challengeId: upper.challengeId.toUpperCase() } })).status).toBe(200);
    await expectError(await call("/v1/auth/passkeys/login", { body: upper }), 401, "invalid_credentials");
    // One object per challenge, named by the lower-case id: nothing kept under the upper-case name.
    expect((await challengeMarks(upper.challengeId)).keys).toEqual(["spent"]);
    expect((await challengeMarks(upper.challengeId.toUpperCase())).keys).toEqual([]);
    // Replays are not failed logins.
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
  });

  it("malformed ids are 400 invalid_request naming challengeId, never 5xx; UUIDs that are not version 7 are 401 and mark nothing", async () => {
    const { account, credential } = await enrolled("pkb-malformed");
    const { challengeId, challenge } = await loginOptions();
    const response = await assert(credential, { challenge, counter: 0 });
    const bare = challengeId.replace(/-/g, "");
    const wrongVariant = `${challengeId.slice(0, 19)}c${challengeId.slice(20)}`;
    for (const bad of ["", "not-a-uuid", `{${challengeId}}`, bare, ` ${challengeId}`, `${challengeId} `, `${challengeId}0`, wrongVariant, `urn:uuid:${challengeId}`, 42, null, ["x"], { id: challengeId }]) {
      const answer = await call("/v1/auth/passkeys/login", { body: { challengeId: bad, response } });
      const body = await expectError(answer, 400, "invalid_request");
      expect(body.details.map((d: Json) => d.field)).toContain("challengeId");
    }
    await expectError(await call("/v1/auth/passkeys/login", { body: { response } }), 400, "invalid_request");
    // Well-formed UUIDs of other versions (the nil and max UUIDs, v4 as registrations use, v1, v8): refused by shape.
    const v4 = crypto.randomUUID();
    const otherVersions = [
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      v4,
      `${challengeId.slice(0, 14)}1${challengeId.slice(15)}`,
      `${challengeId.slice(0, 14)}8${challengeId.slice(15)}`,
    ];
    for (const id of otherVersions) {
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: id, response } }), 401, "invalid_credentials");
      expect(await challengeMarks(id)).toEqual({ keys: [], alarm: null });
    }
    // The extremes of a version 7 id's 48-bit time: the epoch (expired) and 8921 (the future).
    for (const id of ["00000000-0000-7000-8000-000000000000", "ffffffff-ffff-7fff-bfff-ffffffffffff"]) {
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: id, response } }), 401, "invalid_credentials");
      expect(await challengeMarks(id)).toEqual({ keys: [], alarm: null });
    }
    expect(await attemptCount(account.userId)).toBe(0);
    // The real id was never named in all that: still answerable.
    expect((await call("/v1/auth/passkeys/login", { body: { challengeId, response } })).status).toBe(200);
  });

  it("a forged version 7 id (right shape, right time, no key) signs nothing and leaves the real challenge answerable", async () => {
    const { account, credential } = await enrolled("pkb-forged");
    const { challengeId, challenge } = await loginOptions();
    const made = uuidV7Time(challengeId)!;
    const lastHex = challengeId.at(-1)!;
    const forgeries = [
      `${challengeId.slice(0, -1)}${lastHex === "0" ? "1" : "0"}`, // one bit of the random part
      uuidV7(made), // the same instant, other random bits
      uuidV7(Date.now()), // a fresh id no options made
    ];
    const config = serviceDeps().config;
    for (const forged of forgeries) {
      expect(uuidV7Time(forged)).not.toBeNull();
      // The server would expect another challenge for it, one only its key can compute.
      expect((await loginChallengeOf(config, forged, Date.now()))?.challenge).not.toBe(challenge);
      // The real challenge's signature, presented under the forged id.
      const response = await assert(credential, { challenge, counter: 0 });
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: forged, response } }), 401, "invalid_credentials");
      // The forged id's first use spent it (right or wrong).
      expect((await challengeMarks(forged)).keys).toEqual(["spent"]);
    }
    // The known credential checked against the wrong challenge: failed logins, counted like wrong passwords.
    expect(await attemptCount(account.userId)).toBe(3);
    expect(await failedEvents(account.userId, "passkey")).toBe(3);
    // The real id was not touched by its neighbours.
    expect((await challengeMarks(challengeId)).keys).toEqual([]);
    const right = await call("/v1/auth/passkeys/login", { body: { challengeId, response: await assert(credential, { challenge, counter: 0 }) } });
    expect(right.status).toBe(200);
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("lifetime edges: answerable just under 5 minutes old and up to 5 s ahead; refused just past either, counting nothing", async () => {
    const { account, credential } = await enrolled("pkb-lifetime");
    const config = serviceDeps().config;
    // Ids made as the options would have made them at other instants, answered with the server's own derivation.
    const at = async (made: number) => {
      const challengeId = uuidV7(made);
      const derived = await loginChallengeOf(config, challengeId, made);
      return { challengeId, response: await assert(credential, { challenge: derived!.challenge, counter: 0 }) };
    };
    const nearlyExpired = await at(Date.now() - CHALLENGE_TTL_MS + 5_000);
    expect((await call("/v1/auth/passkeys/login", { body: nearlyExpired })).status).toBe(200);
    const ahead = await at(Date.now() + FUTURE_SKEW_MS - 2_000);
    expect((await call("/v1/auth/passkeys/login", { body: ahead })).status).toBe(200);
    // Its mark is kept a full lifetime past its own expiry, counted from its (future) time.
    expect(await challengeMarks(ahead.challengeId)).toEqual({ keys: ["spent"], alarm: uuidV7Time(ahead.challengeId)! + 2 * CHALLENGE_TTL_MS });

    for (const body of [await at(Date.now() - CHALLENGE_TTL_MS - 50), await at(Date.now() + FUTURE_SKEW_MS + 2_000)]) {
      await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
      // Refused by the id alone: no object was asked.
      expect(await challengeMarks(body.challengeId)).toEqual({ keys: [], alarm: null });
    }
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
  });

  it("the other ceremony's ids: a registration id signs in nothing and marks nothing; a sign-in id in any spelling registers nothing", async () => {
    const { account, pair, credential } = await enrolled("pkb-ceremony");
    // A registration challenge (a UUID v4 with a D1 row) presented to the sign-in, answered over its own challenge.
    const reg = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const overReg = await assert(credential, { challenge: reg.options.challenge, counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: reg.challengeId, response: overReg } }), 401, "invalid_credentials");
    expect(await challengeMarks(reg.challengeId)).toEqual({ keys: [], alarm: null });
    expect(await attemptCount(account.userId)).toBe(0);

    // A sign-in id presented to the registration, lower- and upper-case: no D1 row has it.
    const signIn = await loginOptions();
    const passkeysBefore = (await rowsOfUser(account.userId)).passkeys;
    for (const challengeId of [signIn.challengeId, signIn.challengeId.toUpperCase()]) {
      const response = await attest(await softCredential("ES256"), { challenge: signIn.challenge, userHandle: reg.options.user.id });
      await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken }), 400, "invalid_request");
    }
    expect((await rowsOfUser(account.userId)).passkeys).toBe(passkeysBefore);
  });
});

describe("spent by its first use, whatever the answer", () => {
  it("an unknown credential's use spends the id: the right credential after it is refused", async () => {
    const { account, credential } = await enrolled("pkb-first-unknown");
    const { challengeId, challenge } = await loginOptions();
    const stranger = { ...(await softCredential("ES256")), userHandle: credential.userHandle };
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: await assert(stranger, { challenge }) } }), 401, "invalid_credentials");
    const right = await assert(credential, { challenge, counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: right } }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await liveSessions(account.userId)).toBe(1); // the enrolment's password session alone
  });

  it("a disabled account: a right passkey is 403 account_disabled on both counter paths, a wrong one 401; the used ids stay spent after enabling", async () => {
    const { account, credential } = await enrolled("pkb-disabled");
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    const zero = await signInBody(credential, { counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: zero }), 403, "account_disabled");
    const counted = await signInBody(credential, { counter: 4 });
    await expectError(await call("/v1/auth/passkeys/login", { body: counted }), 403, "account_disabled");
    // Without the key, the account's state is not revealed: a wrong assertion is the usual 401.
    await expectError(await passkeyLogin(credential, { origin: "https://evil.example", counter: 0 }), 401, "invalid_credentials");
    expect(await liveSessions(account.userId)).toBe(0);
    expect(await countActivity(account.userId, "sign_in", "passkey")).toBe(0);

    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    for (const body of [zero, counted]) await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
    const back = await passkeyLogin(credential, { counter: 5 });
    expect(back.status).toBe(200);
    expect((await json(back)).user.id).toBe(account.userId);
  });
});

describe("the account's 10 failed logins, shared with passwords (API.md §6)", () => {
  it("5 wrong passkeys and 5 wrong passwords fill one count: both doors then answer 429, right answers included", async () => {
    const { account, credential } = await enrolled("pkb-shared");
    for (let i = 0; i < 5; i++) {
      await expectError(await passkeyLogin(credential, { uv: false }), 401, "invalid_credentials");
      await expectError(await wrongPassword(account.email), 401, "invalid_credentials");
    }
    expect(await attemptCount(account.userId)).toBe(10);
    expect({ passkey: await failedEvents(account.userId, "passkey"), password: await failedEvents(account.userId, "password") }).toEqual({ passkey: 5, password: 5 });
    const refusedPasskey = await expectError(await passkeyLogin(credential, { counter: 0 }), 429, "rate_limited");
    const refusedPassword = await expectError(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }), 429, "rate_limited");
    expect(refusedPasskey.message).toBe(refusedPassword.message);
    expect(await attemptCount(account.userId)).toBe(10);
  });

  it("24 wrong passkey assertions at once: exactly 10 are checked and counted, 14 are 429", async () => {
    const { account, credential } = await enrolled("pkb-parallel");
    const bodies = await Promise.all(Array.from({ length: 24 }, () => signInBody(credential, { uv: false, counter: 0 })));
    const answers = await Promise.all(bodies.map((body) => call("/v1/auth/passkeys/login", { body })));
    expect(tally(answers.map((a) => a.status))).toEqual({ 401: 10, 429: 14 });
    for (const answer of answers.filter((a) => a.status === 429)) expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await attemptCount(account.userId)).toBe(10);
    expect(await failedEvents(account.userId, "passkey")).toBe(10);
  });

  it("12 wrong passkeys and 12 wrong passwords at once: exactly 10 checked between the two doors", async () => {
    const { account, credential } = await enrolled("pkb-parallel-mixed");
    const bodies = await Promise.all(Array.from({ length: 12 }, () => signInBody(credential, { origin: "https://evil.example", counter: 0 })));
    const answers = await Promise.all([
      ...bodies.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status),
      ...Array.from({ length: 12 }, async () => (await wrongPassword(account.email)).status),
    ]);
    expect(tally(answers)).toEqual({ 401: 10, 429: 14 });
    expect(await attemptCount(account.userId)).toBe(10);
    expect((await failedEvents(account.userId, "passkey")) + (await failedEvents(account.userId, "password"))).toBe(10);
    await expectError(await passkeyLogin(credential, { counter: 0 }), 429, "rate_limited");
  });

  it("no reservation leaks on any path: after object and D1 successes, a compare-and-set loss and a disabled sign-in, the account still gets exactly 10 checks", async () => {
    const { account, credential } = await enrolled("pkb-no-leak");
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200); // the user's object starts it
    expect((await passkeyLogin(credential, { counter: 1 })).status).toBe(200); // the compare-and-set path
    const racing = await Promise.all([signInBody(credential, { counter: 2 }), signInBody(credential, { counter: 2 })]);
    const raced = await Promise.all(racing.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(raced.sort()).toEqual([200, 401]);
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    await expectError(await passkeyLogin(credential, { counter: 3 }), 403, "account_disabled");
    await expectError(await passkeyLogin(credential, { counter: 0 }), 401, "invalid_credentials"); // a regressed counter
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    expect((await passkeyLogin(credential, { counter: 4 })).status).toBe(200); // clears the count
    expect(await attemptCount(account.userId)).toBe(0);

    // A leaked reservation would hold a place: fewer than 10 of these would be checked.
    const bodies = await Promise.all(Array.from({ length: 10 }, () => signInBody(credential, { uv: false, counter: 0 })));
    const statuses = await Promise.all(bodies.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(tally(statuses)).toEqual({ 401: 10 });
    await expectError(await passkeyLogin(credential, { uv: false, counter: 0 }), 429, "rate_limited");
  });

  it("once the window ends, a right assertion signs in after a burst of refusals; the refused uses spent their ids", async () => {
    // The same Worker and objects with a 5-second window, so the test can outlive it.
    const WINDOW_MS = 5_000;
    const short = via({ ...env, RATE_LIMIT_ACCOUNT_LOGIN_FAILURES: `10/${WINDOW_MS / 1000}` } as unknown as Env);
    const { account, credential } = await enrolled("pkb-window");
    // Every body made first, so the window's 10 failures and the burst fall well inside one window.
    const wrong = await Promise.all(Array.from({ length: 10 }, () => signInBody(credential, { uv: false, counter: 0 }, short)));
    const right = await Promise.all(Array.from({ length: 12 }, () => signInBody(credential, { counter: 0 }, short)));
    expect(tally(await Promise.all(wrong.map(async (body) => (await short("/v1/auth/passkeys/login", { body })).status)))).toEqual({ 401: 10 });
    // A burst of right ones, at once: all refused before their signature is used, nothing signed in.
    expect(tally(await Promise.all(right.map(async (body) => (await short("/v1/auth/passkeys/login", { body })).status)))).toEqual({ 429: 12 });
    expect(await liveSessions(account.userId)).toBe(1);
    expect(await attemptCount(account.userId)).toBe(10);

    const windowStart = (await env.DB.prepare("SELECT window_start FROM counters WHERE key = ?").bind(`login:${account.userId}`).first<number>("window_start"))!;
    await sleep(Math.max(0, windowStart + WINDOW_MS + 300 - Date.now()));
    // The 429 was the id's first use: spent.
    await expectError(await short("/v1/auth/passkeys/login", { body: right[0] }), 401, "invalid_credentials");
    expect((await passkeyLogin(credential, { counter: 0 }, short)).status).toBe(200);
    expect(await liveSessions(account.userId)).toBe(2);
    // And a full 10 checks again in the new window (nothing held over from the burst).
    const again = await Promise.all(Array.from({ length: 11 }, () => signInBody(credential, { uv: false, counter: 0 }, short)));
    expect(tally(await Promise.all(again.map(async (body) => (await short("/v1/auth/passkeys/login", { body })).status)))).toEqual({ 401: 10, 429: 1 });
  });
});

describe("accounts: deleted, guests, a second factor", () => {
  it("a deleted account's passkey: 401, and nothing is counted or written for the gone user", async () => {
    const { account, pair, credential } = await enrolled("pkb-deleted");
    const body = await signInBody(credential, { counter: 0 });
    const deleted = await call("/v1/auth/me", { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken });
    expect(deleted.status).toBe(204);
    await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
    await expectError(await passkeyLogin(credential, { uv: false }), 401, "invalid_credentials");
    const rows = await rowsOfUser(account.userId);
    expect(Object.values(rows).every((n) => n === 0), JSON.stringify(rows)).toBe(true);
  });

  it("a deletion that lands between a wrong assertion's read and its failure's write leaves no row of the gone user (no orphan counter)", async () => {
    const { account, pair, credential } = await enrolled("pkb-deleted-race");
    // The Worker's D1, except that the failure's count (the only INSERT into counters) waits for the deletion first.
    const real = env.DB;
    const sqlOf = new WeakMap<object, string>();
    const tag = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
      sqlOf.set(statement, query);
      const bind = statement.bind.bind(statement);
      (statement as { bind: D1PreparedStatement["bind"] }).bind = (...values: unknown[]) => tag(bind(...values), query);
      return statement;
    };
    let deletion: number | undefined;
    const interleaved = {
      prepare: (query: string) => tag(real.prepare(query), query),
      batch: async (statements: D1PreparedStatement[]) => {
        if (deletion === undefined && statements.some((s) => /insert into "counters"/i.test(sqlOf.get(s) ?? ""))) {
          deletion = (await call("/v1/auth/me", { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken })).status;
        }
        return real.batch(statements);
      },
      exec: (query: string) => real.exec(query),
      dump: () => real.dump(),
      withSession: (...args: Parameters<D1Database["withSession"]>) => real.withSession(...args),
    } as unknown as D1Database;
    const answer = await passkeyLogin(credential, { uv: false }, via({ ...env, DB: interleaved } as Env));
    expect(deletion).toBe(204);
    // The account was there when the assertion was read and checked: a failed sign-in, as a JSON 401.
    expect(answer.status).toBe(401);
    await userObject(account.userId).settle();
    const rows = await rowsOfUser(account.userId);
    expect(rows, "every D1 row keyed by the deleted user").toEqual(Object.fromEntries(Object.keys(rows).map((table) => [table, 0])));
  });

  it("a disable racing passkey sign-ins on both counter paths: afterwards no session of the account is live or refreshable", async () => {
    const { account, credential } = await enrolled("pkb-disable-race");
    const bodies = await Promise.all([
      ...Array.from({ length: 4 }, () => signInBody(credential, { counter: 0 })),
      ...[1, 2, 3, 4].map((counter) => signInBody(credential, { counter })),
    ]);
    const [disabled, ...answers] = await Promise.all([
      adminCall(`/users/${account.userId}/disable`, { method: "POST" }),
      ...bodies.map((body) => call("/v1/auth/passkeys/login", { body })),
    ]);
    expect(disabled!.status).toBe(200);
    for (const answer of answers) {
      const body = await json(answer);
      expect([200, 401, 403], JSON.stringify(body)).toContain(answer.status);
      if (answer.status !== 200) continue;
      // A session that started before the disable was revoked by it; none may start after it.
      expect((await call("/v1/auth/refresh", { body: { refreshToken: body.refreshToken } })).status).toBe(401);
    }
    expect(await liveSessions(account.userId)).toBe(0);
  });

  it("a guest's passkey signs into the same guest (role guest, aal2); its failures are the guest's; after upgrading, the same passkey signs into the full account", async () => {
    const g = await guest();
    const credential = await addPasskey(g.accessToken);
    const first = await passkeyLogin(credential, { counter: 0 });
    expect(first.status).toBe(200);
    const pair = await json(first);
    expect(pair.user).toMatchObject({ id: g.user.id, isGuest: true });
    expect(claims(pair.accessToken)).toMatchObject({ sub: g.user.id, role: "guest", aal: "aal2", amr: ["passkey"] });
    for (let i = 0; i < 3; i++) await expectError(await passkeyLogin(credential, { uv: false }), 401, "invalid_credentials");
    expect(await attemptCount(g.user.id)).toBe(3);

    const email = uniqueEmail("pkb-upgraded");
    const upgraded = await call("/v1/auth/upgrade", { body: { email, username: uniqueUsername("pkb"), password: PASSWORD }, token: pair.accessToken });
    expect(upgraded.status).toBe(201);
    const after = await passkeyLogin(credential, { counter: 0 });
    expect(after.status).toBe(200);
    const full = await json(after);
    expect(full.user).toMatchObject({ id: g.user.id, isGuest: false });
    expect(claims(full.accessToken)).toMatchObject({ sub: g.user.id, role: "user", aal: "aal2" });
    expect(await attemptCount(g.user.id)).toBe(0);
  });

  it("an account with an active TOTP factor: a passkey alone is aal2 on both counter paths, never mfa_required", async () => {
    const { account, credential } = await enrolled("pkb-mfa");
    const aal2 = await json(await passkeyLogin(credential, { counter: 0 }));
    await enableMfa(aal2.accessToken, PASSWORD);
    // The password now meets the factor…
    const password = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    expect((await json(password)).error).toBe("mfa_required");
    // …the passkey does not, whichever way its session starts.
    for (const counter of [0, 7]) {
      const answer = await passkeyLogin(credential, { counter });
      const body = await json(answer);
      expect({ status: answer.status, error: body.error }).toEqual({ status: 200, error: undefined });
      expect(body.aal).toBe("aal2");
      expect(claims(body.accessToken)).toMatchObject({ aal: "aal2", amr: ["passkey"] });
      expect(body.user.mfaEnabled).toBe(true);
    }
  });
});

describe("the signature counter under races", () => {
  it("four rising counters at once on a counted passkey: one session, the winner's counter stored, a lower one refused after", async () => {
    const { account, credential } = await enrolled("pkb-cas");
    expect((await passkeyLogin(credential, { counter: 10 })).status).toBe(200);
    const before = await liveSessions(account.userId);
    const bodies = await Promise.all([11, 12, 13, 14].map((counter) => signInBody(credential, { counter })));
    const statuses = await Promise.all(bodies.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(tally(statuses)).toEqual({ 200: 1, 401: 3 });
    const winner = 11 + statuses.indexOf(200);
    expect(await signCount(account.userId)).toBe(winner);
    expect(await liveSessions(account.userId)).toBe(before + 1);
    await expectError(await passkeyLogin(credential, { counter: winner }), 401, "invalid_credentials");
    expect((await passkeyLogin(credential, { counter: winner + 1 })).status).toBe(200);
    expect(await signCount(account.userId)).toBe(winner + 1);
  });
});

describe("faults: an unreachable object is 503 unavailable, never 500", () => {
  /** The 503 of API.md §5: JSON, Retry-After, and nothing of the fault. */
  async function expectUnavailable(response: Response) {
    const body = await expectError(response, 503, "unavailable");
    expect(Object.keys(body).sort()).toEqual(["error", "message", "statusCode"]);
    expect(JSON.stringify(body)).not.toMatch(/test\)|stack|at \w+ \(/i);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  }

  it("the challenge's object rejects: 503, nothing counted or started, and the id is still answerable once it is back", async () => {
    const { account, credential } = await enrolled("pkb-spend-down");
    const broken = {
      idFromName: (name: string) => env.LOGIN_CHALLENGES.idFromName(name),
      get: () => ({ spend: () => Promise.reject(Object.assign(new Error("Durable Object reset because its code was updated. (test)"), { retryable: true })) }),
    };
    const down = via({ ...env, LOGIN_CHALLENGES: broken } as unknown as Env);
    const right = await signInBody(credential, { counter: 0 });
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body: right }));
    await expectUnavailable(await passkeyLogin(credential, { uv: false }, down));
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
    expect(await liveSessions(account.userId)).toBe(1);
    // Nothing was marked: the same id signs in through the real object.
    expect((await call("/v1/auth/passkeys/login", { body: right })).status).toBe(200);
  });

  it("the challenge's namespace throws as the stub is made: still 503, not 500", async () => {
    const { account, credential } = await enrolled("pkb-stub-down");
    const broken = {
      idFromName: (name: string) => env.LOGIN_CHALLENGES.idFromName(name),
      get: () => {
        throw new Error("Durable Object namespace unavailable (test)");
      },
    };
    const down = via({ ...env, LOGIN_CHALLENGES: broken } as unknown as Env);
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 0 }) }));
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("the account's gate rejects: 503, nothing counted, and the id was spent", async () => {
    const { account, credential } = await enrolled("pkb-gate-down");
    const broken = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: () => ({ reserveAttempt: () => Promise.reject(new Error("Network connection lost (test)")) }),
    };
    const down = via({ ...env, USER_SESSIONS: broken } as unknown as Env);
    const body = await signInBody(credential, { counter: 0 });
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body }));
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
    expect((await challengeMarks(body.challengeId)).keys).toEqual(["spent"]);
  });
});

describe("faults in the user's object after the gate", () => {
  it("the session start in the user's object rejects (a zero counter's path): 503 unavailable, not 500, and the reservation is not leaked", async () => {
    const { account, credential } = await enrolled("pkb-start-down");
    const namespace = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: (id: DurableObjectId) => {
        const real = env.USER_SESSIONS.get(id);
        return new Proxy(real, {
          get(target, key) {
            // As the runtime rejects a call to an object that was reset (its `retryable` flag set).
            if (key === "startSession") return () => Promise.reject(Object.assign(new Error("Durable Object reset because its code was updated. (test)"), { retryable: true }));
            return Reflect.get(target, key);
          },
        });
      },
    };
    const down = via({ ...env, USER_SESSIONS: namespace } as unknown as Env);
    const answer = await down("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 0 }) });
    const body = await json(answer); // JSON whatever the status
    expect(answer.status).not.toBe(200);
    expect(await attemptCount(account.userId)).toBe(0);
    // The gate holds nothing for it: a full 10 checks, then 429.
    const bodies = await Promise.all(Array.from({ length: 11 }, () => signInBody(credential, { uv: false, counter: 0 })));
    expect(tally(await Promise.all(bodies.map(async (b) => (await call("/v1/auth/passkeys/login", { body: b })).status)))).toEqual({ 401: 10, 429: 1 });
    // API.md §5: a dependency that cannot answer is 503 unavailable (with Retry-After), never 500.
    expect({ status: answer.status, error: body.error }).toEqual({ status: 503, error: "unavailable" });
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("secrets", () => {
  it("refusals are one indistinguishable 401; no answer or log line carries a challenge, signature, handle, token or key", async () => {
    const { account, credential } = await enrolled("pkb-secrets");
    const logs = captureLogs();
    const secrets: string[] = [];
    const refusals: Json[] = [];
    let pair: Json;
    try {
      const keep = (body: { response: Json }, challenge?: string) => {
        secrets.push(body.response.response.signature, body.response.response.clientDataJSON, body.response.response.authenticatorData);
        if (challenge) secrets.push(challenge);
      };
      // A success, then its replay (spent).
      const { challengeId, challenge } = await loginOptions();
      const right = { challengeId, response: await assert(credential, { challenge, counter: 0 }) };
      keep(right, challenge);
      const ok = await call("/v1/auth/passkeys/login", { body: right });
      expect(ok.status).toBe(200);
      pair = await json(ok);
      const replay = await call("/v1/auth/passkeys/login", { body: right });
      // A wrong signature (counted), an unknown credential, a wrong user handle (counted), a v4 id, an expired v7 id.
      const forger = { ...(await softCredential("ES256")), id: credential.id, userHandle: credential.userHandle };
      const forged = await signInBody(forger, { counter: 0 });
      keep(forged);
      const unknown = await signInBody({ ...(await softCredential("ES256")), userHandle: credential.userHandle });
      const handle = await signInBody(credential, { userHandle: "AAAA", counter: 0 });
      keep(handle);
      const answers = [
        replay,
        await call("/v1/auth/passkeys/login", { body: forged }),
        await call("/v1/auth/passkeys/login", { body: unknown }),
        await call("/v1/auth/passkeys/login", { body: handle }),
        await call("/v1/auth/passkeys/login", { body: { ...right, challengeId: crypto.randomUUID() } }),
        await call("/v1/auth/passkeys/login", { body: { ...right, challengeId: uuidV7(Date.now() - CHALLENGE_TTL_MS - 1_000) } }),
      ];
      for (const answer of answers) {
        expect(answer.headers.get("www-authenticate")).toBe("Bearer");
        refusals.push(await expectError(answer, 401, "invalid_credentials"));
      }
    } finally {
      logs.restore();
    }
    // One answer for every refusal: nothing tells an unknown credential from a spent challenge or a bad signature.
    expect(new Set(refusals.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(Object.keys(refusals[0]).sort()).toEqual(["error", "message", "statusCode"]);
    // The logs name the refusals' reasons, and nothing secret.
    expect(logs.events("passkey.refused").map((e) => e.reason).sort()).toEqual(["user_handle", "verification"]);
    const signingKey = JSON.parse((env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY) as { d: string };
    const text = logs.text();
    for (const secret of [...secrets, credential.userHandle!, pair!.accessToken, pair!.refreshToken, signingKey.d]) {
      expect(secret.length).toBeGreaterThan(3);
      expect(text).not.toContain(secret);
    }
    // The success's answer carries the tokens and the user, not the WebAuthn material.
    const answered = JSON.stringify(pair!);
    for (const secret of [...secrets, credential.userHandle!]) expect(answered).not.toContain(secret);
    expect(await attemptCount(account.userId)).toBe(2);
  });
});
