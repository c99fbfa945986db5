/**
 * Trying to break slice 6 of issue 27 (a85e067), part 2 (the account's limit, accounts, counters; part 1:
 * challenge-break.test.ts): passkey sign-in challenges derived from a UUID
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
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/challenge-break-limits.test.ts
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, claims, env, expectError, guest, json, login, rowsOfUser, uniqueEmail, uniqueUsername } from "../helpers";
import { userObject } from "../helpers/edge";
import { enableMfa } from "../mfa/helpers";
import { addPasskey, enrolled, signInBody, passkeyLogin, wrongPassword, attemptCount, failedEvents, liveSessions, signCount, tally, sleep, via } from "./break-helpers";

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
