/**
 * Attacks on issue 27 slice 3 (src/sessions/start-in-object.ts, session-start.ts, outbox.ts): most
 * sign-ins start their session in the user's object and answer before their D1 writes. Each case races
 * a sign-in with what should stop it or end it (a password change or reset, a disable, a deletion, a
 * second factor, an email change), restarts the object or shuts its D1 between the answer and the
 * flush, or mixes object and D1 sign-ins under the 6th-session rule, then asks `me`, refresh,
 * `AuthRpc.verifySession`, the sessions list and the admin view what the contract says (API.md §1, §3,
 * §6, §10, §15). Over HTTP in workerd, with the real D1 and user objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-sign-in-break.test.ts
 */
import { createExecutionContext, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuthRpc } from "../../src/rpc";
import { PASSWORD, adminCall, call, claims, expectError, guest, json, login, mailbox, mailedToken, refreshWith, uniqueEmail, verifiedAccount } from "../helpers";
import type { Account, Json } from "../helpers";
import { holdObjectD1, userObject } from "../helpers/edge";
import { idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { Authenticator, enableMfa, firstFactor, mfaAccount, verify } from "../mfa/helpers";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { activityOf, countActivity } from "../helpers/activity";

const rpc = () => new AuthRpc(createExecutionContext(), env);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loginCall = (account: Pick<Account, "email" | "password">, token?: string) =>
  call("/v1/auth/login", { body: { email: account.email, password: account.password }, ...(token ? { token } : {}) });

/** An account whose object has read D1 once: the next sign-in is decided there with no D1 trip. */
async function warmAccount(label: string) {
  const account = await verifiedAccount(label);
  const first = await login(account);
  await userObject(account.userId).settle();
  return { account, first };
}

/** Refresh, `me`, `verifySession` and the sessions list of the pair all refuse it. */
async function expectEnded(pair: Json): Promise<void> {
  await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
  expect(await rpc().verifySession(pair.accessToken)).toBeNull();
  await expectError(await call("/v1/auth/sessions", { token: pair.accessToken }), 401, "invalid_token");
  await expectError(await call("/v1/auth/activity", { token: pair.accessToken }), 401, "invalid_token");
  await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
}

/** The user's sessions live in D1 (after the object wrote what it owes). */
async function liveInD1(userId: string): Promise<string[]> {
  await userObject(userId).settle();
  const { results } = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
    .bind(userId, Date.now())
    .all<{ id: string }>();
  return results.map((r) => r.id).sort();
}

const eventsOf = async (userId: string, type: string) => (await activityOf(userId, type)).map((r) => r.session_id);

/** A login answer in a race: 200 (its pair), or one of the refusals listed; never a 500. */
async function outcome(response: Response, refusals: number[]): Promise<Json | null> {
  const body = await json(response);
  expect([200, ...refusals], JSON.stringify(body)).toContain(response.status);
  return response.status === 200 ? body : null;
}

describe("a sign-in racing what must stop or end it (Promise.all, several rounds)", () => {
  it("a password change with revokeOtherSessions: a sign-in with the old password that won is ended, none that lost starts later", async () => {
    const { account, first } = await warmAccount("sbrk-chpw");
    let current = first;
    let password = account.password;
    for (let round = 0; round < 5; round++) {
      const next = `${PASSWORD}-r${round}`;
      const [changed, ...answers] = await Promise.all([
        call("/v1/auth/change-password", { token: current.accessToken, body: { currentPassword: password, newPassword: next, revokeOtherSessions: true } }),
        ...Array.from({ length: 3 }, () => loginCall({ email: account.email, password })),
      ]);
      expect(changed.status).toBe(200);
      const kept = await json(changed);
      password = next;
      for (const answer of answers) {
        const pair = await outcome(answer, [401]);
        if (pair) await expectEnded(pair);
      }
      // The caller's session stays (its pair may be a new one), and only that one.
      current = kept.accessToken ? kept : current;
      expect((await call("/v1/auth/me", { token: current.accessToken })).status).toBe(200);
      expect(await liveInD1(account.userId)).toEqual([current.sessionId ?? first.sessionId]);
      await expectError(await loginCall({ email: account.email, password: `${PASSWORD}${round === 0 ? "" : `-r${round - 1}`}` }), 401, "invalid_credentials");
    }
  });

  it("a password reset: every sign-in with the old password that won is ended, the old password then refused", async () => {
    const { account } = await warmAccount("sbrk-reset");
    for (let round = 0; round < 3; round++) {
      const before = (await mailbox(account.email, 0)).length;
      expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBeLessThan(300);
      const token = await mailedToken(account.email, "/reset-password", before + 1);
      const old = round === 0 ? account.password : `${PASSWORD}-reset${round - 1}`;
      const [reset, ...answers] = await Promise.all([
        call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: `${PASSWORD}-reset${round}` } }),
        ...Array.from({ length: 3 }, () => loginCall({ email: account.email, password: old })),
      ]);
      expect(reset.status).toBe(200);
      for (const answer of answers) {
        const pair = await outcome(answer, [401]);
        if (pair) await expectEnded(pair);
      }
      expect(await liveInD1(account.userId)).toEqual([]);
      await expectError(await loginCall({ email: account.email, password: old }), 401, "invalid_credentials");
      expect((await loginCall({ email: account.email, password: `${PASSWORD}-reset${round}` })).status).toBe(200);
    }
  });

  it("an admin disable: a sign-in that won is ended; after it, 403 account_disabled; no live session", async () => {
    for (let round = 0; round < 3; round++) {
      const { account } = await warmAccount("sbrk-disable");
      const [disabled, ...answers] = await Promise.all([
        adminCall(`/users/${account.userId}/disable`, { method: "POST" }),
        ...Array.from({ length: 3 }, () => loginCall(account)),
      ]);
      expect(disabled.status).toBe(200);
      for (const answer of answers) {
        const pair = await outcome(answer, [403]);
        if (pair) await expectEnded(pair);
      }
      expect(await liveInD1(account.userId)).toEqual([]);
      await expectError(await loginCall(account), 403, "account_disabled");
      const view = await json(await adminCall(`/users/${account.userId}`));
      expect(view.sessions).toEqual([]);
    }
  });

  it("an admin delete: a sign-in that won is ended; no session row or owed write survives", async () => {
    for (let round = 0; round < 3; round++) {
      const { account } = await warmAccount("sbrk-delete");
      const [deleted, ...answers] = await Promise.all([adminCall(`/users/${account.userId}`, { method: "DELETE" }), ...Array.from({ length: 3 }, () => loginCall(account))]);
      expect(deleted.status).toBeLessThan(300);
      for (const answer of answers) {
        const pair = await outcome(answer, [401, 403]);
        if (pair) await expectEnded(pair);
      }
      await sleep(50);
      await userObject(account.userId).settle();
      const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n");
      expect(rows).toBe(0);
      expect(await countActivity(account.userId)).toBe(0);
    }
  });

  it("a self-service deletion (mailed link): a sign-in that won is ended, nothing of the account is left in D1", async () => {
    const { account } = await warmAccount("sbrk-selfdel");
    const before = (await mailbox(account.email, 0)).length;
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/delete-account", before + 1);
    const [deleted, ...answers] = await Promise.all([call("/v1/auth/confirm-deletion", { body: { token } }), ...Array.from({ length: 4 }, () => loginCall(account))]);
    expect(deleted.status).toBe(200);
    for (const answer of answers) {
      const pair = await outcome(answer, [401, 403]);
      if (pair) await expectEnded(pair);
    }
    await userObject(account.userId).settle();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(0);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE id = ?").bind(account.userId).first<number>("n")).toBe(0);
  });

  it("a second factor activated by another session: after it, every password sign-in is 403 mfa_required (the object's guard sees it)", async () => {
    for (let round = 0; round < 3; round++) {
      const { account, first } = await warmAccount("sbrk-mfa-on");
      // Warm: the object has decided a sign-in with no D1 trip.
      await login(account);
      const enrolled = await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: first.accessToken });
      expect(enrolled.status).toBe(200);
      const { factorId, otpauthUri } = await json(enrolled);
      const code = await new Authenticator(otpauthUri).next();
      const [activated, ...answers] = await Promise.all([
        call("/v1/auth/mfa/totp/activate", { body: { factorId, code }, token: first.accessToken }),
        ...Array.from({ length: 3 }, () => loginCall(account)),
      ]);
      expect(activated.status).toBe(200);
      for (const answer of answers) {
        // A winner signed in before the factor was active (one password: aal1), which is allowed.
        const pair = await outcome(answer, [403]);
        if (pair) expect(claims(pair.accessToken).amr).toEqual(["password"]);
      }
      for (let i = 0; i < 3; i++) await expectError(await loginCall(account), 403, "mfa_required");
      await evictDurableObject(userObject(account.userId));
      await expectError(await loginCall(account), 403, "mfa_required");
    }
  });

  it("a TOTP factor deactivated while sign-ins race it: each is 200 or 403 mfa_required; after it, sign-ins start with no factor", async () => {
    const account = await mfaAccount("sbrk-mfa-off");
    const [removed, ...answers] = await Promise.all([
      call(`/v1/auth/mfa/totp/${account.factorId}`, { method: "DELETE", token: account.tokens.accessToken }),
      ...Array.from({ length: 3 }, () => loginCall(account)),
    ]);
    expect(removed.status).toBeLessThan(300);
    for (const answer of answers) {
      const body = await json(answer);
      expect([200, 403], JSON.stringify(body)).toContain(answer.status);
      if (answer.status === 403) expect(body.error).toBe("mfa_required");
    }
    const pair = await login(account);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
  });

  it("an email change confirmed while sign-ins race it: each winner's me shows the new address once confirmed", async () => {
    const { account, first } = await warmAccount("sbrk-email");
    const newEmail = uniqueEmail("sbrk-email-new");
    expect((await call("/v1/auth/change-email", { body: { newEmail, password: account.password }, token: first.accessToken })).status).toBeLessThan(300);
    const token = await mailedToken(newEmail, "/confirm-email-change");
    const [confirmed, ...answers] = await Promise.all([call("/v1/auth/confirm-email-change", { body: { token } }), ...Array.from({ length: 3 }, () => loginCall(account))]);
    expect(confirmed.status).toBeLessThan(300);
    for (const answer of answers) {
      const pair = await outcome(answer, [401]);
      if (!pair) continue;
      const me = await call("/v1/auth/me", { token: pair.accessToken });
      if (me.status === 200) {
        const body = await json(me);
        expect((body.user ?? body).email).toBe(newEmail);
      }
      else await expectError(me, 401, "invalid_token");
    }
  });
});

describe("a session started in the object whose D1 writes are not written yet", () => {
  it("the object restarted between the answer and the flush: me, verifySession, the list and refresh answer; revoke-all then ends it everywhere", async () => {
    const { account, first } = await warmAccount("sbrk-evict");
    const d1 = await holdObjectD1(account.userId, true);
    const pair = await login(account);
    expect(await env.DB.prepare("SELECT id FROM sessions WHERE id = ?").bind(pair.sessionId).first()).toBeNull();
    await evictDurableObject(userObject(account.userId));
    // A new instance has the real binding again: the writes follow on its first operation.
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect(await rpc().verifySession(pair.accessToken)).not.toBeNull();
    const listed = await json(await call("/v1/auth/sessions", { token: pair.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, pair.sessionId].sort());
    const next = await json(await refreshWith(pair.refreshToken));
    expect(next.sessionId).toBe(pair.sessionId);
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: first.accessToken })).status).toBeLessThan(300);
    await expectEnded(next);
    expect(await liveInD1(account.userId)).toEqual([]);
    expect((await eventsOf(account.userId, "sign_in")).filter((id) => id === pair.sessionId)).toHaveLength(1);
    void d1;
  });

  const enders: { name: string; end: (account: Account, pair: Json, other: Json) => Promise<Response> }[] = [
    { name: "sign-out", end: (_a, pair) => call("/auth/signout", { token: pair.accessToken, body: { refresh_token: pair.refreshToken } }) },
    { name: "revoke", end: (_a, pair) => call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } }) },
    { name: "revoke-all", end: (_a, _p, other) => call("/v1/auth/revoke-all", { method: "POST", token: other.accessToken }) },
    { name: "delete by id", end: (_a, pair, other) => call(`/v1/auth/sessions/${pair.sessionId}`, { method: "DELETE", token: other.accessToken }) },
    { name: "admin revoke", end: (a) => adminCall(`/users/${a.userId}/revoke-sessions`, { method: "POST" }) },
    { name: "admin disable", end: (a) => adminCall(`/users/${a.userId}/disable`, { method: "POST" }) },
    {
      name: "password change with revokeOtherSessions",
      end: (a, _p, other) => call("/v1/auth/change-password", { token: other.accessToken, body: { currentPassword: a.password, newPassword: `${PASSWORD}-x`, revokeOtherSessions: true } }),
    },
  ];
  for (const way of enders) {
    it(`D1 out of reach for the object, then ${way.name}: 503 or done, never a 500 nor a live session left behind once D1 is back`, async () => {
      const { account, first } = await warmAccount("sbrk-d1fail");
      const d1 = await holdObjectD1(account.userId, true);
      const pair = await login(account);
      const ended = await way.end(account, pair, first);
      const body = await json(ended);
      await d1.restore();
      if (ended.status < 300) {
        await expectEnded(pair);
        expect(await liveInD1(account.userId)).not.toContain(pair.sessionId);
      } else {
        // Not done: the session is live everywhere, its writes follow.
        expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
        expect((await call("/v1/auth/activity", { token: pair.accessToken })).status).toBe(200);
        expect(await liveInD1(account.userId)).toContain(pair.sessionId);
      }
      expect((await eventsOf(account.userId, "sign_in")).filter((id) => id === pair.sessionId)).toHaveLength(1);
      // Refused while the object cannot reach D1: 503 `unavailable` with Retry-After, never a 500 (failed before the fix).
      if (ended.status >= 300) {
        expect(ended.status, JSON.stringify(body)).toBe(503);
        expect(body.error).toBe("unavailable");
        expect(ended.headers.get("retry-after")).not.toBeNull();
      }
    });
  }
  for (const way of enders) {
    it(`the object's D1 write slow, then ${way.name} with me and refresh at once: done, and the session refused everywhere after`, async () => {
      const { account, first } = await warmAccount("sbrk-d1slow");
      const gate = await holdObjectD1(account.userId);
      const pair = await login(account);
      const racing = Promise.all([way.end(account, pair, first), call("/v1/auth/me", { token: pair.accessToken }), refreshWith(pair.refreshToken)]);
      await sleep(100);
      gate.open();
      const [ended, me, refreshed] = await racing;
      expect(ended!.status, await ended!.clone().text()).toBeLessThan(300);
      expect([200, 401]).toContain(me!.status);
      expect([200, 401]).toContain(refreshed!.status);
      await expectEnded(pair);
      if (refreshed!.status === 200) await expectEnded(await json(refreshed!));
      expect(await liveInD1(account.userId)).not.toContain(pair.sessionId);
      expect((await eventsOf(account.userId, "sign_in")).filter((id) => id === pair.sessionId)).toHaveLength(1);
    });
  }
});

describe("the 6th-session rule with object and D1 sign-ins at once", () => {
  it("password sign-ins (object) and guest-merging sign-ins (D1) together: at most 5 live, one session_revoked per eviction, no 500", async () => {
    const { account } = await warmAccount("sbrk-mix");
    for (let i = 0; i < 3; i++) await login(account);
    const guests = await Promise.all(Array.from({ length: 3 }, () => guest()));
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => loginCall(account)),
      ...guests.map((g) => loginCall(account, g.accessToken)),
    ]);
    const pairs: Json[] = [];
    for (const answer of answers) {
      const pair = await outcome(answer, []);
      pairs.push(pair);
    }
    const live = await liveInD1(account.userId);
    expect(live.length).toBe(5);
    // The newest five are the five live ones the object's list shows, and each works.
    const newest = pairs.filter((p) => live.includes(p.sessionId));
    expect(newest.length).toBe(5);
    const listed = await json(await call("/v1/auth/sessions", { token: newest[0].accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual(live);
    for (const p of pairs) {
      if (live.includes(p.sessionId)) expect((await call("/v1/auth/me", { token: p.accessToken })).status).toBe(200);
      else await expectEnded(p);
    }
    const all = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ?").bind(account.userId).all<{ id: string; revoked_reason: string | null }>();
    const evicted = all.results.filter((r) => r.revoked_reason === "session_limit").map((r) => r.id).sort();
    expect(all.results.length - evicted.length).toBe(5);
    const events = (await eventsOf(account.userId, "session_revoked")).sort();
    expect(events).toEqual(evicted);
    const signIns = await eventsOf(account.userId, "sign_in");
    expect(new Set(signIns).size).toBe(signIns.length);
    expect(signIns.length).toBe(all.results.length);
  });

  it("many object sign-ins at once (8 rounds of 4): the limit holds, one event each, the list and D1 agree", async () => {
    const { account } = await warmAccount("sbrk-burst");
    for (let round = 0; round < 8; round++) {
      const answers = await Promise.all(Array.from({ length: 4 }, () => loginCall(account)));
      for (const answer of answers) await outcome(answer, []);
    }
    const live = await liveInD1(account.userId);
    expect(live.length).toBe(5);
    const all = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ?").bind(account.userId).all<{ id: string; revoked_reason: string | null }>();
    expect(all.results.length).toBe(33);
    const evicted = all.results.filter((r) => r.revoked_reason === "session_limit").map((r) => r.id).sort();
    expect(evicted.length).toBe(28);
    expect((await eventsOf(account.userId, "session_revoked")).sort()).toEqual(evicted);
    expect((await eventsOf(account.userId, "sign_in")).length).toBe(33);
    const view = await json(await adminCall(`/users/${account.userId}`));
    expect(view.sessions.map((s: Json) => s.id).sort()).toEqual(live);
    expect(view.user.sessionCount).toBe(5);
  });
});

describe("what the admin sees right after a sign-in started in the object", () => {
  it("the user view lists the session, its sign_in event and lastSignInAt, even while the object's write is slow (failed before the fix)", async () => {
    const { account } = await warmAccount("sbrk-admin");
    const gate = await holdObjectD1(account.userId);
    const pair = await login(account);
    const viewing = adminCall(`/users/${account.userId}`);
    await sleep(100);
    gate.open();
    const view = await json(await viewing);
    expect(view.sessions.map((s: Json) => s.id)).toContain(pair.sessionId);
    expect(view.activity.filter((e: Json) => e.type === "sign_in" && e.sessionId === pair.sessionId)).toHaveLength(1);
    expect(view.user.sessionCount).toBe(2);
    expect(Date.parse(view.user.lastSignInAt)).toBeGreaterThanOrEqual(claims(pair.accessToken).iat * 1000 - 1000);
  });
});

/**
 * A D1 binding for the user object whose liveness read (sessions ⋈ users, `check`'s cold read) runs
 * at once but hands its answer back only after `open()`: a check whose read saw the session live
 * before a revocation and returns after it. `reading` resolves when such a read has run.
 */
async function delayLivenessAnswers(userId: string) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let ran!: () => void;
  const reading = new Promise<void>((resolve) => (ran = resolve));
  const real = env.DB;
  const reals = new WeakMap<object, D1PreparedStatement>();
  const isLiveness = (query: string) => /inner join "users"/i.test(query);
  const wrap = (query: string, statement: D1PreparedStatement): D1PreparedStatement => {
    const delayed = <T>(run: () => Promise<T>) => async () => {
      const answer = await run();
      if (isLiveness(query)) {
        ran();
        await gate;
      }
      return answer;
    };
    const proxy = {
      bind: (...values: unknown[]) => wrap(query, statement.bind(...values)),
      first: (column?: string) => delayed(() => (column === undefined ? statement.first() : statement.first(column)))(),
      all: () => delayed(() => statement.all())(),
      raw: (options?: { columnNames?: boolean }) => delayed(() => statement.raw(options as never))(),
      run: () => delayed(() => statement.run())(),
    } as unknown as D1PreparedStatement;
    reals.set(proxy, statement);
    return proxy;
  };
  const binding = {
    prepare: (query: string) => wrap(query, real.prepare(query)),
    batch: (statements: D1PreparedStatement[]) => real.batch(statements.map((s) => reals.get(s) ?? s)),
    exec: (query: string) => real.exec(query),
  } as unknown as D1Database;
  await runInDurableObject(userObject(userId), (object: unknown) => {
    const instance = object as { env: Env };
    Object.defineProperty(instance, "env", { value: { ...instance.env, DB: binding }, configurable: true, writable: true });
  });
  return { open, reading };
}

describe("a check racing the 6th-session rule of a sign-in started in the object", () => {
  it("me and verifySession of the evicted session: a cold read that saw it live before the eviction is not kept (failed before the fix)", async () => {
    const { account, first } = await warmAccount("sbrk-evict-check");
    for (let i = 0; i < 4; i++) await login(account);
    // A change since the sessions were marked: the next check of the oldest reads D1 (cold).
    const renamed = await call("/v1/auth/me", { method: "PATCH", token: first.accessToken, body: { username: `sbrk_${crypto.randomUUID().slice(0, 8)}` } });
    expect(renamed.status).toBe(200);
    const delay = await delayLivenessAnswers(account.userId);
    const checking = call("/v1/auth/me", { token: first.accessToken });
    await delay.reading;
    // The sixth sign-in evicts the oldest (written to D1 before it answers), while that read is out.
    const sixth = await login(account);
    expect(await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(first.sessionId).first("revoked_reason")).toBe("session_limit");
    delay.open();
    expect([200, 401]).toContain((await checking).status);
    // Revoked means refused at once: every check after the sign-in answered.
    await expectError(await call("/v1/auth/me", { token: first.accessToken }), 401, "invalid_token");
    expect(await rpc().verifySession(first.accessToken)).toBeNull();
    await expectEnded(first);
    expect((await call("/v1/auth/me", { token: sixth.accessToken })).status).toBe(200);
  });
});

describe("passkeys (no counter) start in the object, second-factor sign-ins in D1", () => {
  /** Registers a counter-0 ES256 passkey for the signed-in pair's account. */
  async function enrolPasskey(pair: Json): Promise<SoftCredential> {
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const credential = await softCredential("ES256");
    const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
    expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken })).status).toBe(201);
    return credential;
  }
  async function passkeyBody(credential: SoftCredential) {
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    return { challengeId, response: await assert(credential, { challenge: options.challenge, counter: 0 }) };
  }

  it("an account with TOTP: passkey sign-ins (object) and recovery-code sign-ins (D1) at once keep 5 live, one event per eviction and per sign-in", async () => {
    const account = await verifiedAccount("sbrk-pk-mix");
    const pair = await login(account);
    const credential = await enrolPasskey(pair);
    const mfa = await enableMfa(pair.accessToken, account.password);
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push((await firstFactor(account)).mfaToken);
    const bodies = await Promise.all(Array.from({ length: 4 }, () => passkeyBody(credential)));
    const answers = await Promise.all([
      ...tokens.map((mfaToken, i) => verify({ mfaToken, recoveryCode: mfa.recoveryCodes[i] })),
      ...bodies.map((body) => call("/v1/auth/passkeys/login", { body })),
    ]);
    const pairs: Json[] = [];
    for (const answer of answers) pairs.push(await outcome(answer, []));
    for (const p of pairs.slice(3)) expect(claims(p.accessToken).amr).toContain("passkey");
    // (A passkey's sign-in starts in the object unless a D1 sign-in's change is pending there: then it takes the D1 path too.)
    const live = await liveInD1(account.userId);
    expect(live).toHaveLength(5);
    const all = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ?").bind(account.userId).all<{ id: string; revoked_reason: string | null }>();
    expect(all.results).toHaveLength(8);
    const evicted = all.results.filter((r) => r.revoked_reason === "session_limit").map((r) => r.id).sort();
    expect(evicted).toHaveLength(3);
    expect((await eventsOf(account.userId, "session_revoked")).sort()).toEqual(evicted);
    const signIns = await eventsOf(account.userId, "sign_in");
    expect(signIns.filter((id) => pairs.some((p) => p.sessionId === id))).toHaveLength(7);
    expect(new Set(signIns).size).toBe(signIns.length);
    for (const p of pairs) {
      if (live.includes(p.sessionId)) expect((await call("/v1/auth/me", { token: p.accessToken })).status).toBe(200);
      else await expectEnded(p);
    }
  });

  it("passkey sign-ins racing an admin disable: each is 200 or 403; every winner is ended; the passkey's last use is recorded once D1 has it", async () => {
    const { account, first } = await warmAccount("sbrk-pk-disable");
    const credential = await enrolPasskey(first);
    const bodies = await Promise.all(Array.from({ length: 3 }, () => passkeyBody(credential)));
    const [disabled, ...answers] = await Promise.all([adminCall(`/users/${account.userId}/disable`, { method: "POST" }), ...bodies.map((body) => call("/v1/auth/passkeys/login", { body }))]);
    expect(disabled.status).toBe(200);
    for (const answer of answers) {
      const pair = await outcome(answer, [403]);
      if (pair) await expectEnded(pair);
    }
    expect(await liveInD1(account.userId)).toEqual([]);
    if (answers.some((a) => a.status === 200)) {
      expect(await env.DB.prepare("SELECT last_used_at FROM passkeys WHERE user_id = ?").bind(account.userId).first("last_used_at")).not.toBeNull();
    }
    await expectError(await call("/v1/auth/passkeys/login", { body: await passkeyBody(credential) }), 403, "account_disabled");
  });
});

describe("ID-token sign-ins of an existing account start in the object", () => {
  it("a second factor activated: the next ID-token sign-in is 403 mfa_required, also after a restart; a disable racing them ends every winner", async () => {
    const sub = `sbrk-${crypto.randomUUID()}`;
    const email = uniqueEmail("sbrk-oidc");
    const signIn = async () => idTokenSignIn({ idToken: await mintIdToken({ sub, email, email_verified: true }) });
    const created = await signIn();
    expect(created.status).toBe(200);
    const first = await json(created);
    const again = await json(await signIn());
    expect((await call("/v1/auth/me", { token: again.accessToken })).status).toBe(200);
    await enableMfa(first.accessToken);
    await expectError(await signIn(), 403, "mfa_required");
    await evictDurableObject(userObject(first.user.id));
    await expectError(await signIn(), 403, "mfa_required");
    const answers = await Promise.all([adminCall(`/users/${first.user.id}/disable`, { method: "POST" }), signIn(), signIn()]);
    expect(answers[0]!.status).toBe(200);
    for (const answer of answers.slice(1)) {
      const body = await json(answer);
      expect(answer.status, JSON.stringify(body)).toBe(403);
      expect(["mfa_required", "account_disabled"]).toContain(body.error);
    }
    expect(await liveInD1(first.user.id)).toEqual([]);
  });
});

describe("a 6th sign-in whose evictions cannot reach D1", () => {
  it("its writes stay owed with an alarm set to retry them, which ends the evicted session in D1 too (failed before the fix)", async () => {
    const { account, first } = await warmAccount("sbrk-limit-alarm");
    for (let i = 0; i < 4; i++) await login(account);
    await userObject(account.userId).settle();
    // No alarm pending: the earlier sign-ins' alarm has run.
    await runDurableObjectAlarm(userObject(account.userId));
    const d1 = await holdObjectD1(account.userId, true);
    const sixth = await loginCall(account);
    // Refused while the object cannot write the evictions: 503, never a 500.
    expect(sixth.status).toBe(503);
    await d1.restore();
    expect(await runDurableObjectAlarm(userObject(account.userId))).toBe(true);
    expect(await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(first.sessionId).first("revoked_reason")).toBe("session_limit");
    await expectEnded(first);
    expect((await eventsOf(account.userId, "session_revoked")).filter((id) => id === first.sessionId)).toHaveLength(1);
    expect(await liveInD1(account.userId)).toHaveLength(5);
  });
});

describe("a guest signing in again with its passkey, racing its upgrade to a full account", () => {
  it("no session of the upgraded account is left without an expiry, and every winner's next refresh is a full account's; a sign-in that read the guest is refused", async () => {
    for (let round = 0; round < 3; round++) {
      const g = await guest();
      const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: g.accessToken }));
      const credential = await softCredential("ES256");
      const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
      expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: g.accessToken })).status).toBe(201);
      const body = async () => {
        const login = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
        return { challengeId: login.challengeId, response: await assert(credential, { challenge: login.options.challenge, counter: 0 }) };
      };
      // Warm: the guest's object has decided a sign-in.
      expect((await call("/v1/auth/passkeys/login", { body: await body() })).status).toBe(200);
      const bodies = await Promise.all(Array.from({ length: 3 }, body));
      const [upgraded, ...answers] = await Promise.all([
        call("/v1/auth/upgrade", { token: g.accessToken, body: { email: uniqueEmail("sbrk-gup"), username: `sbrk_${crypto.randomUUID().slice(0, 8)}`, password: PASSWORD } }),
        ...bodies.map((b) => call("/v1/auth/passkeys/login", { body: b })),
      ]);
      expect(upgraded.status).toBe(201);
      // A sign-in whose lookup read the guest before the upgrade landed is refused (401; its retry signs
      // in as the full account): the guard requires the role to fit the account, on both paths.
      const pairs: Json[] = [];
      for (const answer of answers) {
        const pair = await outcome(answer, [401]);
        if (pair) pairs.push(pair);
      }
      await userObject(g.user.id).settle();
      const unlimited = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at IS NULL").bind(g.user.id).all();
      expect(unlimited.results).toEqual([]);
      for (const p of pairs) {
        const next = await refreshWith(p.refreshToken);
        expect(next.status).toBe(200);
        expect(claims((await json(next)).accessToken).role).toBe("user");
      }
    }
  });
});

describe("sign-ins racing revoke-all and the admin's revoke: every view of each winner agrees", () => {
  /** Live in D1 ⇔ me 200 ⇔ verifySession ⇔ listed by the caller's own list ⇔ refresh 200. */
  async function agrees(userId: string, pair: Json): Promise<boolean> {
    const live = (await liveInD1(userId)).includes(pair.sessionId);
    const me = (await call("/v1/auth/me", { token: pair.accessToken })).status;
    const rpcUser = await rpc().verifySession(pair.accessToken);
    const list = await call("/v1/auth/sessions", { token: pair.accessToken });
    const listed = list.status === 200 && ((await json(list)).sessions as Json[]).some((s) => s.id === pair.sessionId);
    expect({ me, rpc: rpcUser !== null, listed }).toEqual({ me: live ? 200 : 401, rpc: live, listed: live });
    const refreshed = await refreshWith(pair.refreshToken);
    expect(refreshed.status).toBe(live ? 200 : 401);
    return live;
  }

  const revokers: { name: string; revoke: (account: Account, other: Json) => Promise<Response> }[] = [
    { name: "revoke-all", revoke: (_a, other) => call("/v1/auth/revoke-all", { method: "POST", token: other.accessToken }) },
    { name: "admin revoke", revoke: (a) => adminCall(`/users/${a.userId}/revoke-sessions`, { method: "POST" }) },
  ];
  for (const way of revokers) {
    it(`${way.name} (4 rounds)`, async () => {
      const { account, first } = await warmAccount("sbrk-revoke-race");
      for (let round = 0; round < 4; round++) {
        const other = await login(account);
        const [revoked, ...answers] = await Promise.all([way.revoke(account, other), ...Array.from({ length: 3 }, () => loginCall(account))]);
        expect(revoked.status).toBeLessThan(300);
        for (const answer of answers) await agrees(account.userId, await outcome(answer, []));
        expect(await agrees(account.userId, other)).toBe(false);
      }
      await expectEnded(first);
    });
  }
});

describe("an eviction written by a later flush (its sign-in's flush failed, then the object restarted)", () => {
  it("me and verifySession refuse the evicted session once the alarm wrote its revocation, though a check kept it before (failed before the fix)", async () => {
    const { account, first } = await warmAccount("sbrk-evict-restart");
    for (let i = 0; i < 4; i++) await login(account);
    await userObject(account.userId).settle();
    await holdObjectD1(account.userId, true);
    expect((await loginCall(account)).status).toBe(503);
    // A new instance (the real binding again) that knows nothing of the eviction but its owed entry.
    await evictDurableObject(userObject(account.userId));
    // D1 still has the evicted session live: a check answers it (and may keep the answer).
    expect((await call("/v1/auth/me", { token: first.accessToken })).status).toBe(200);
    expect(await runDurableObjectAlarm(userObject(account.userId))).toBe(true);
    expect(await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(first.sessionId).first("revoked_reason")).toBe("session_limit");
    await expectError(await call("/v1/auth/me", { token: first.accessToken }), 401, "invalid_token");
    expect(await rpc().verifySession(first.accessToken)).toBeNull();
    await expectEnded(first);
  });
});

describe("an entry with evictions written twice (an object that died before deleting it)", () => {
  it("one session_revoked per evicted session, one sign_in, one live new session", async () => {
    const { account, first } = await warmAccount("sbrk-twice-evict");
    for (let i = 0; i < 4; i++) await login(account);
    await userObject(account.userId).settle();
    const gate = await holdObjectD1(account.userId);
    const sixth = loginCall(account);
    await sleep(200);
    const entries = await runInDurableObject(userObject(account.userId), (_instance: unknown, state: DurableObjectState) =>
      state.storage.sql.exec<{ json: string }>("SELECT json FROM d1_outbox ORDER BY seq").toArray().map((row) => row.json),
    );
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]!).evicted).toEqual([first.sessionId]);
    gate.open();
    const pair = await json(await sixth);
    await runInDurableObject(userObject(account.userId), (_instance: unknown, state: DurableObjectState) => {
      state.storage.sql.exec("INSERT INTO d1_outbox (json) VALUES (?)", entries[0]!);
    });
    expect(await userObject(account.userId).settle()).toBe(true);
    expect((await eventsOf(account.userId, "session_revoked")).filter((id) => id === first.sessionId)).toHaveLength(1);
    expect((await eventsOf(account.userId, "sign_in")).filter((id) => id === pair.sessionId)).toHaveLength(1);
    expect(await liveInD1(account.userId)).toHaveLength(5);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    await expectEnded(first);
  });
});
