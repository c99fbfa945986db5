/**
 * A reviewer's attacks on the common case of a sign-in by mailed code (issue 27, slice 6:
 * src/email-codes/known-code.ts, src/sessions/spent-proofs.ts): a right code of a verified owner is
 * read once from D1, gated in the account's object like a password, and spent in the user's object
 * with the session, its D1 row deleted by the object's outbox after the answer. Over HTTP in workerd
 * with the real D1 and Durable Objects; nothing is mocked. Timing is forced, never hoped for:
 *
 * - `holdAfterReserve()`: the Worker's `USER_SESSIONS` binding answers `reserveAttempt` (the real
 *   reservation, made) only when the test says so, so a code sign-in is held between its D1 read and
 *   its session while something else happens (a disable, a deletion, a new code, an email change);
 * - `holdObjectWrites(userId)`: the user object's D1 binding holds (or fails) only its outbox's
 *   batches (the ones that insert a session), so its reads still go through.
 *
 * Three tests fail on real bugs (kept failing on purpose; the report of the `codebreak` branch has
 * the evidence and a fix): a right code held between its read and its session while its owner
 * moves to another address is spent twice (the object's record is per account, the row per
 * address: the owner's late session and a sign-up's, or a guest's upgrade, from one code), and a
 * deletion in that window leaves the deleted user's object with storage (`beginChange(spend)`
 * opens the token store to record the proof).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/email-codes/known-code-break.test.ts
 */
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, adminCall, call, env, expectError, guest, json, login, mailedToken, objectStorage, rowsOfUser, uniqueEmail, verifiedAccount } from "../helpers";
import type { CallOptions, Json } from "../helpers";
import { fetchWith, holdObjectD1, userObject } from "../helpers/edge";
import { requestCode } from "../helpers/email-code";
import { countActivity } from "../helpers/activity";
import { enableMfa, mfaAccount, verify as mfaVerify } from "../mfa/helpers";

// A TOTP step's code is accepted once (test/mfa/helpers.ts may wait for the next step); the gate waits up to 8 s.
vi.setConfig({ testTimeout: 120_000 });

const VERIFY = "/v1/auth/email-code/verify";
const verify = (email: string, code: string, token?: string) => call(VERIFY, { body: { email, code }, ...(token ? { token } : {}) });
const wrong = (code: string, i = 0) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, "0");
const codeRow = (email: string) =>
  env.DB.prepare("SELECT attempts FROM email_codes WHERE email_normalized = ?").bind(email.toLowerCase()).first<{ attempts: number }>();
const counter = (userId: string) => env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count");
const liveSessionsInD1 = (userId: string) =>
  env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(userId).first<number>("n");
const usersWith = (email: string) => env.DB.prepare("SELECT count(*) AS n FROM users WHERE email_normalized = ?").bind(email.toLowerCase()).first<number>("n");
const settle = (userId: string) => userObject(userId).settle();
const me = (token: string) => call("/v1/auth/me", { token });

/** Sets the account's failed-login counter to `count` in a window opened now (the state after `count` failures). */
async function setCounter(userId: string, count: number) {
  await env.DB.prepare("INSERT INTO counters (key, window_start, count) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count")
    .bind(`login:${userId}`, Date.now(), count)
    .run();
}

/** A 2xx/4xx/503 answer with a §5 JSON body: never a 500. */
async function expectNoInternal(response: Response): Promise<Json> {
  const body = await json(response.clone());
  expect(response.status, JSON.stringify(body)).not.toBe(500);
  expect(body.error).not.toBe("internal");
  return body;
}

/** Code sign-ins held after their reservation in the account's gate (see the module comment). */
function holdAfterReserve() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reserved = 0;
  const real = env.USER_SESSIONS;
  const USER_SESSIONS = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = real.get(id) as unknown as Record<string | symbol, unknown>;
      return new Proxy(stub, {
        get(target, prop) {
          if (prop === "reserveAttempt") {
            return async (input: unknown) => {
              const outcome = await (target.reserveAttempt as (i: unknown) => Promise<unknown>)(input);
              reserved++;
              await gate;
              return outcome;
            };
          }
          if (prop === "then") return undefined;
          return (...args: unknown[]) => (target[prop] as (...a: unknown[]) => unknown)(...args); // RPC methods only
        },
      });
    },
  };
  const heldEnv = { ...env, USER_SESSIONS } as unknown as Env;
  const fetch = (path: string, options?: CallOptions) => fetchWith(heldEnv, path, options);
  return { fetch, open, count: () => reserved };
}

/**
 * The user object's D1 binding with its outbox batches (those inserting a session) held until
 * `open()`, or failing with `fail`; every other statement and batch (its reads) goes through.
 * `restore()` puts the real binding back.
 */
async function holdObjectWrites(userId: string, fail = false) {
  const { runInDurableObject } = await import("cloudflare:test");
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const real = env.DB;
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  let heldBatches = 0;
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    sqlOf.set(statement, query);
    const s = statement as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bind = s.bind!.bind(statement);
    s.bind = (...args: unknown[]) => wrap(bind(...args) as D1PreparedStatement, query);
    return statement;
  };
  const held = {
    prepare: (query: string) => wrap(real.prepare(query), query),
    batch: async (statements: D1PreparedStatement[]) => {
      if (statements.some((s) => /insert into "sessions"/i.test(sqlOf.get(s) ?? ""))) {
        heldBatches++;
        if (fail) throw new Error("D1_ERROR: unreachable (test)");
        await gate;
      }
      return real.batch(statements);
    },
    exec: (query: string) => real.exec(query),
    dump: () => real.dump(),
    withSession: (...args: Parameters<D1Database["withSession"]>) => real.withSession(...args),
  } as unknown as D1Database;
  const swap = (db: D1Database) =>
    runInDurableObject(userObject(userId), (object: unknown) => {
      const instance = object as { env: Env };
      Object.defineProperty(instance, "env", { value: { ...instance.env, DB: db }, configurable: true, writable: true });
    });
  await swap(held);
  return { open, restore: () => swap(real), heldBatches: () => heldBatches };
}

describe("one code, one session: right answers in parallel, mixed with wrong ones and guests", () => {
  it("6 right answers, 2 wrong codes and 2 guests' tokens at once: one session, guests untouched, each 401 recorded once", async () => {
    const account = await verifiedAccount("cb-storm");
    const first = await login(account);
    await settle(account.userId);
    const guests = [await guest(), await guest()];
    const code = await requestCode(account.email, 2);
    const kinds = ["right", "wrong", "right", "guest", "right", "right", "wrong", "guest", "right", "right"] as const;
    let wrongs = 0;
    let guestsAsked = 0;
    const answers = await Promise.all(
      kinds.map((kind) =>
        kind === "right" ? verify(account.email, code) : kind === "wrong" ? verify(account.email, wrong(code, wrongs++)) : verify(account.email, code, guests[guestsAsked++]!.accessToken),
      ),
    );
    for (const answer of answers) await expectNoInternal(answer);
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    const winner = await json(answers[statuses.indexOf(200)]!);
    expect(winner.user.id).toBe(account.userId);
    expect(kinds[statuses.indexOf(200)]).toBe("right");
    kinds.forEach((kind, i) => {
      if (kind === "wrong") expect(statuses[i]).toBe(401);
      if (kind === "guest") expect([401, 409]).toContain(statuses[i]);
      if (kind === "right" && statuses[i] !== 200) expect(statuses[i]).toBe(401);
    });
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    // One session by code: the password's and the winner's are all the account has.
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, winner.sessionId].sort());
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    // Every 401 is one `sign_in_failed` of the owner (a lost race, a wrong code, a guest after the spend); a 409 none.
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBe(statuses.filter((s) => s === 401).length);
    // The guests were neither upgraded nor merged.
    for (const g of guests) {
      const body = await json(await me(g.accessToken));
      expect(body.user).toMatchObject({ id: g.user.id, isGuest: true });
    }
    // The winner's session works; the code does not, whoever asks.
    expect((await me(winner.accessToken)).status).toBe(200);
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    await expectError(await verify(account.email, code, guests[0]!.accessToken), 401, "invalid_credentials");
  });
});

describe("a replay while the object still owes the code's delete", () => {
  it("outbox failing: replays are 503 (never 500, never a session), a guest's is 409 and changes nothing; once D1 is back the replay is 401", async () => {
    const account = await verifiedAccount("cb-fail");
    const first = await login(account);
    await settle(account.userId);
    const g = await guest();
    const code = await requestCode(account.email, 2);
    const broken = await holdObjectWrites(account.userId, true);
    let signedIn: Json;
    try {
      const answer = await verify(account.email, code);
      expect(answer.status).toBe(200);
      signedIn = await json(answer);
      // The row is still in D1, live: only the object's record stands between it and a second use.
      expect(await codeRow(account.email)).toEqual({ attempts: 0 });
      const replays = await Promise.all([verify(account.email, code), verify(account.email, code), verify(account.email, code, g.accessToken)]);
      for (const replay of replays) await expectNoInternal(replay);
      expect(replays.map((r) => r.status)).not.toContain(200);
      expect(replays[0]!.status).toBe(503);
      expect(replays[1]!.status).toBe(503);
      expect(replays[2]!.status).toBe(409);
      // The object did try to write what it owes (and failed): the replays met that, not a missing entry.
      expect(broken.heldBatches()).toBeGreaterThanOrEqual(1);
    } finally {
      await broken.restore();
    }
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, signedIn.sessionId].sort());
    expect((await json(await me(g.accessToken))).user).toMatchObject({ id: g.user.id, isGuest: true });
  });

  it("outbox held: a replay waits for it and is then 401; the session it was spent for is the only one", async () => {
    const account = await verifiedAccount("cb-held");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = await holdObjectD1(account.userId);
    let replays: Response[];
    try {
      expect((await verify(account.email, code)).status).toBe(200);
      const replaying = Promise.all([verify(account.email, code), verify(account.email, code), verify(account.email, wrong(code))]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      held.open();
      replays = await replaying;
    } finally {
      await held.restore();
    }
    expect(replays.map((r) => r.status)).toEqual([401, 401, 401]);
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    expect(await liveSessionsInD1(account.userId)).toBe(2);
  });
});

describe("what happens between a right code's read and its session (held at the gate)", () => {
  it("a disable lands in between: 403 account_disabled, no session; enabled again, the code is spent", async () => {
    const account = await verifiedAccount("cb-disable");
    const first = await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code } });
    await expect.poll(held.count).toBe(1);
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    held.open();
    await expectError(await signingIn, 403, "account_disabled");
    await settle(account.userId);
    expect(await liveSessionsInD1(account.userId)).toBe(0);
    await expectError(await me(first.accessToken), 401, "invalid_token");
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    // A disabled owner's right code is spent (docs: src/email-codes/index.ts), whichever path saw the disable.
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    expect(await liveSessionsInD1(account.userId)).toBe(0);
  });

  it("a second factor is activated in between: 403 mfa_required, no aal1 session; mfa/verify completes it", async () => {
    const account = await verifiedAccount("cb-factor");
    const first = await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code } });
    await expect.poll(held.count).toBe(1);
    const factor = await enableMfa(first.accessToken, account.password);
    held.open();
    const challenge = await expectError(await signingIn, 403, "mfa_required");
    await settle(account.userId);
    // Only the calling session (now aal2): the code started none of its own.
    expect(await liveSessionsInD1(account.userId)).toBe(1);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    const completed = await mfaVerify({ mfaToken: challenge.mfaToken, code: await factor.authenticator.next() });
    expect(completed.status).toBe(200);
    expect((await json(completed)).aal).toBe("aal2");
    expect(await liveSessionsInD1(account.userId)).toBe(2);
  });

  it("the account is deleted in between: no 500, no session, and the deleted user's object keeps nothing", async () => {
    const account = await verifiedAccount("cb-delete");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code } });
    await expect.poll(held.count).toBe(1);
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    held.open();
    const answer = await signingIn;
    const body = await expectNoInternal(answer);
    expect(answer.status, JSON.stringify(body)).toBe(401);
    const rows = await rowsOfUser(account.userId, account.email.toLowerCase());
    // Counters too: a failure is counted only while the account exists.
    expect(rows).toEqual({ users: 0, sessions: 0, identities: 0, passkeys: 0, webauthn_challenges: 0, one_time_tokens: 0, activity: 0, counters: 0, email_codes: 0 });
    // API.md §9: deletion removes the user object's storage; a sign-in that raced it must not bring any back.
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("control: a password sign-in held the same way across the deletion leaves the object empty (what the code's spend breaks)", async () => {
    const account = await verifiedAccount("cb-delete-pw");
    await login(account);
    await settle(account.userId);
    const held = holdAfterReserve();
    const signingIn = held.fetch("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    await expect.poll(held.count).toBe(1);
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    held.open();
    const answer = await signingIn;
    await expectNoInternal(answer);
    expect(answer.status).not.toBe(200);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("a new code is requested in between: the old code's late spend never voids the new code", async () => {
    const account = await verifiedAccount("cb-newcode");
    await login(account);
    await settle(account.userId);
    const old = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code: old } });
    await expect.poll(held.count).toBe(1);
    const fresh = await requestCode(account.email, 3);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    expect([200, 401]).toContain(late.status);
    await settle(account.userId);
    // The old code's delete names its own hash: the new row is there, untouched.
    if (fresh !== old) expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    const byFresh = await verify(account.email, fresh);
    expect(byFresh.status).toBe(200);
    expect((await json(byFresh)).user.id).toBe(account.userId);
    await expectError(await verify(account.email, old), 401, "invalid_credentials");
    await settle(account.userId);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(late.status === 200 ? 2 : 1);
  });

  it("an account with a second factor, a new code requested in between: the old code starts nothing (its D1 path finds it replaced), the new one asks for the factor", async () => {
    const account = await mfaAccount("cb-newcode-mfa");
    const old = await requestCode(account.email, 3); // after the verification and the factor's notice
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code: old } });
    await expect.poll(held.count).toBe(1);
    const fresh = await requestCode(account.email, 4);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    expect([401, 403]).toContain(late.status);
    // The old code's pending sign-in, if any, is the only one; the new code is untouched by the old one's batch.
    if (fresh !== old) expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    await expectError(await verify(account.email, fresh), 403, "mfa_required");
    const pending = await env.DB.prepare("SELECT count(*) AS n FROM mfa_challenges WHERE user_id = ?").bind(account.userId).first<number>("n");
    expect(pending).toBe(late.status === 403 ? 2 : 1);
    await expectError(await verify(account.email, fresh), 401, "invalid_credentials");
  });

  it("the owner moves to another address in between: the code still signs in at most once (no second account's session from it)", async () => {
    const account = await verifiedAccount("cb-move");
    const pair = await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code } });
    await expect.poll(held.count).toBe(1);
    // Meanwhile the owner changes the account's address (confirmed), freeing the old one.
    const next = uniqueEmail("cb-move-next");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    const token = await mailedToken(next, "/confirm-email-change");
    expect((await call("/v1/auth/confirm-email-change", { body: { token } })).status).toBe(200);
    // The object's outbox writes follow its answers; hold them so the replay below comes before them.
    const outbox = await holdObjectWrites(account.userId);
    let late: Response;
    let replay: Response;
    try {
      held.open();
      late = await signingIn;
      replay = await verify(account.email, code);
    } finally {
      outbox.open();
      await outbox.restore();
    }
    await expectNoInternal(late);
    await expectNoInternal(replay);
    await settle(account.userId);
    const statuses = [late.status, replay.status];
    // API.md §11: a code is single use. Two 200s would be two sessions (two accounts) from one code.
    expect(statuses.filter((s) => s === 200).length, `answers ${statuses.join(", ")}`).toBeLessThanOrEqual(1);
    if (replay.status === 200) expect((await json(replay)).user.id).not.toBe(account.userId);
    expect(await codeRow(account.email)).toBeNull();
  });

  it("the owner moves away in between and a guest takes the freed address with the same code: still one use (no outbox held)", async () => {
    const account = await verifiedAccount("cb-move-guest");
    const pair = await login(account);
    await settle(account.userId);
    const g = await guest();
    const code = await requestCode(account.email, 2);
    const held = holdAfterReserve();
    const signingIn = held.fetch(VERIFY, { body: { email: account.email, code } });
    await expect.poll(held.count).toBe(1);
    const next = uniqueEmail("cb-move-guest-next");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    expect((await call("/v1/auth/confirm-email-change", { body: { token: await mailedToken(next, "/confirm-email-change") } })).status).toBe(200);
    // The address is free: a guest proves it with the same code (upgraded in place, API.md §11).
    const upgraded = await verify(account.email, code, g.accessToken);
    await expectNoInternal(upgraded);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    await settle(account.userId);
    const statuses = [upgraded.status, late.status];
    expect(statuses.filter((s) => s === 200).length, `guest ${upgraded.status}, owner ${late.status}`).toBeLessThanOrEqual(1);
    expect(await countActivity(account.userId, "sign_in", "code") + (upgraded.status === 200 ? 1 : 0)).toBeLessThanOrEqual(1);
  });
});

describe("the account's failed logins (§6), shared with passwords", () => {
  it("10 wrong passwords: the right code is 429 and untouched; after the window it signs in, and the count is cleared (time compressed)", async () => {
    const account = await verifiedAccount("cb-window");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    // 10 failures in 8 s stands for 10 in 15 minutes: every call of this test uses it.
    const compressed = { ...env, RATE_LIMIT_ACCOUNT_LOGIN_FAILURES: "10/8" } as unknown as Env;
    const as = (path: string, options: CallOptions) => fetchWith(compressed, path, options);
    const guesses = await Promise.all(Array.from({ length: 10 }, (_, i) => as("/v1/auth/login", { body: { email: account.email, password: `wrong-guess-${i}` } })));
    expect(guesses.map((r) => r.status)).toEqual(Array(10).fill(401));
    const refused = await as(VERIFY, { body: { email: account.email, code } });
    await expectError(refused, 429, "rate_limited");
    const retryAfter = Number(refused.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(8);
    // 429 leaves the code as it was: no try taken, not spent.
    expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    await expectError(await as(VERIFY, { body: { email: account.email, code } }), 429, "rate_limited");
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 500));
    const signedIn = await as(VERIFY, { body: { email: account.email, code } });
    expect(signedIn.status).toBe(200);
    expect((await json(signedIn)).user.id).toBe(account.userId);
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    expect(await counter(account.userId)).toBe(0);
    // Nothing left reserved or counted: a password sign-in is not throttled.
    expect((await as("/v1/auth/login", { body: { email: account.email, password: PASSWORD } })).status).toBe(200);
  });

  it("no reservation leaks: after lost races, a right code at 9 failures signs in at once (a leaked one would make it wait 8 s and 429)", async () => {
    const account = await verifiedAccount("cb-leak");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => verify(account.email, code)))).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401, 401]);
    // A 429 outcome too: at the limit, the right code of a new request is refused without a reservation.
    await settle(account.userId);
    const next = await requestCode(account.email, 3);
    await setCounter(account.userId, 10);
    await expectError(await verify(account.email, next), 429, "rate_limited");
    await setCounter(account.userId, 9);
    const started = Date.now();
    const signedIn = await verify(account.email, next);
    expect(signedIn.status, `after ${Date.now() - started} ms`).toBe(200);
    await settle(account.userId);
    expect(await counter(account.userId)).toBe(0);
  });

  it("an account with a second factor: the code's 403 and a lost race leak no reservation either (9 failures, then the code is 403 mfa_required, not 429)", async () => {
    const account = await mfaAccount("cb-leak-mfa");
    // Two mails before the first code: the verification and the factor's notice (test/mfa/helpers.ts).
    const code = await requestCode(account.email, 3);
    const answers = await Promise.all(Array.from({ length: 3 }, () => verify(account.email, code)));
    expect(answers.map((r) => r.status).sort()).toEqual([401, 401, 403]);
    const next = await requestCode(account.email, 4);
    await setCounter(account.userId, 9);
    const again = await verify(account.email, next);
    const body = await expectError(again, 403, "mfa_required");
    expect(typeof body.mfaToken).toBe("string");
  });
});

describe("an account with a second factor (§15)", () => {
  it("5 right codes at once: one 403 mfa_required; mfa/verify completes one aal2 session; neither the code nor the mfaToken works again", async () => {
    const account = await mfaAccount("cb-mfa");
    const code = await requestCode(account.email, 3); // after the verification and the factor's notice
    const answers = await Promise.all(Array.from({ length: 5 }, () => verify(account.email, code)));
    for (const answer of answers) await expectNoInternal(answer);
    const statuses = answers.map((r) => r.status);
    expect([...statuses].sort()).toEqual([401, 401, 401, 401, 403]);
    const challenge = await expectError(answers[statuses.indexOf(403)]!, 403, "mfa_required");
    expect(challenge.factors).toEqual(expect.arrayContaining(["totp"]));
    expect(Object.keys(challenge)).not.toContain("accessToken");
    // Exactly one pending sign-in was written, and the code is gone with it.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM mfa_challenges WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(1);
    expect(await codeRow(account.email)).toBeNull();
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    const completed = await mfaVerify({ mfaToken: challenge.mfaToken, code: await account.authenticator.next() });
    expect(completed.status).toBe(200);
    const pair = await json(completed);
    expect(pair.user.id).toBe(account.userId);
    expect(pair.aal).toBe("aal2");
    await expectError(await mfaVerify({ mfaToken: challenge.mfaToken, code: await account.authenticator.next() }), 401, "invalid_credentials");
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    await settle(account.userId);
    expect(await countActivity(account.userId, "sign_in", "code+totp")).toBe(1);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    // The activation's session and the one mfa/verify started: nothing else.
    expect(await liveSessionsInD1(account.userId)).toBe(2);
  });
});

describe("an owner whose address changed between the code's mail and its use", () => {
  it("the code mailed to the old address never signs into the account that left it", async () => {
    const account = await verifiedAccount("cb-moved");
    const pair = await login(account);
    const code = await requestCode(account.email, 2);
    const next = uniqueEmail("cb-moved-next");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    const token = await mailedToken(next, "/confirm-email-change");
    expect((await call("/v1/auth/confirm-email-change", { body: { token } })).status).toBe(200);
    const answer = await verify(account.email, code);
    await expectNoInternal(answer);
    // Sign-up is on: the freed address gets an account of its own, never the one that left it.
    expect(answer.status).toBe(200);
    const body = await json(answer);
    expect(body.user.id).not.toBe(account.userId);
    expect(body.user.email).toBe(account.email);
    expect(await usersWith(account.email)).toBe(1);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
  });
});

describe("a disable racing code sign-ins, unheld", () => {
  it("in several rounds: each answer is 200 or 403, and once the disable answered no session of the account works", async () => {
    for (let round = 0; round < 3; round++) {
      const account = await verifiedAccount(`cb-dis-${round}`);
      await login(account);
      await settle(account.userId);
      const code = await requestCode(account.email, 2);
      const [a, b, disabled] = await Promise.all([verify(account.email, code), verify(account.email, code), adminCall(`/users/${account.userId}/disable`, { method: "POST" })]);
      expect(disabled.status).toBe(200);
      for (const answer of [a, b]) await expectNoInternal(answer);
      expect([a.status, b.status].filter((s) => s === 200).length).toBeLessThanOrEqual(1);
      for (const answer of [a, b]) {
        expect([200, 401, 403]).toContain(answer.status);
        if (answer.status !== 200) continue;
        const pair = await json(answer);
        await expectError(await me(pair.accessToken), 401, "invalid_token");
        expect((await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } })).status).toBe(401);
      }
      await settle(account.userId);
      expect(await liveSessionsInD1(account.userId)).toBe(0);
    }
  });
});
