/**
 * Attacks on issue 27 slice 1 (docs/edge-sessions.md "Built"): `GET /v1/auth/me` and
 * `AuthRpc.verifySession` answer from the user object's in-memory cache. Each case warms the cache
 * (two `me`), then ends the session or changes the account by a path other than the ones
 * test/sessions/edge-me.test.ts covers (a guest merged by a login, an owner's email-code proof, a
 * provider's proof, the second factor on and off, the dead-guest cron, the compatibility doors),
 * races a change against several `me`, or restarts the object in the middle of a sign-in; then the
 * very next `me` (and `verifySession`) must refuse, or show the change (API.md §1, §19). Over HTTP
 * in workerd, with the real D1 and user objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-me-break.test.ts
 */
import { createExecutionContext, evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuthRpc } from "../../src/rpc";
import { signIn } from "../../src/sessions";
import { loadConfig } from "../../src/config";
import { purgeExpired } from "../../src/maintenance";
import type { Deps } from "../../src/http/deps";
import {
  PASSWORD, adminCall, call, expectError, guest, json, login, mailedToken, objectStorage, serviceDeps, uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import { requestCode } from "../helpers/email-code";
import type { Json } from "../helpers";
import { enableMfa } from "../mfa/helpers";
import { deleteAccount } from "../../src/deletion";
import { changeUser } from "../../src/accounts/change-user";

const me = (token: string) => call("/v1/auth/me", { token });
const rpc = () => new AuthRpc(createExecutionContext(), env);
const stubOf = (userId: string) => env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));

/** `me` twice: the second answer comes from a warm cache. Returns the user it shows. */
async function warm(token: string): Promise<Json> {
  expect((await me(token)).status).toBe(200);
  const answer = await me(token);
  expect(answer.status).toBe(200);
  expect(await rpc().verifySession(token)).not.toBeNull();
  return (await json(answer)).user;
}

/** Refused by both cached checks at once. */
async function expectRefused(token: string): Promise<void> {
  await expectError(await me(token), 401, "invalid_token");
  expect(await rpc().verifySession(token)).toBeNull();
}

/** Whether D1, the record, holds the session live (not revoked, not expired, account enabled). */
async function liveInD1(sessionId: string): Promise<boolean> {
  const row = await env.DB.prepare(
    "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > ?) AND u.disabled_at IS NULL",
  ).bind(sessionId, Date.now()).first();
  return row !== null;
}

describe("ends and changes made by paths edge-me.test.ts does not cover", () => {
  it("a guest merged into an account by a login with its Bearer token: the guest's warm session is refused at once", async () => {
    const account = await verifiedAccount("brk-merge");
    const g = await guest();
    await warm(g.accessToken);
    const signedIn = await call("/v1/auth/login", { token: g.accessToken, body: { email: account.email, password: account.password } });
    expect(signedIn.status).toBe(200);
    expect(await env.DB.prepare("SELECT 1 FROM users WHERE id = ?").bind(g.user.id).first()).toBeNull();
    await expectRefused(g.accessToken);
    expect((await json(await me((await json(signedIn)).accessToken))).user.id).toBe(account.userId);
  });

  it("an owner's first email-code proof ends the claimant's warm session and shows the address verified", async () => {
    const email = uniqueEmail("brk-claim");
    const g = await guest();
    const claimed = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("brkc"), password: PASSWORD } });
    expect(claimed.status).toBe(201);
    const claimant = await json(claimed);
    expect((await warm(claimant.accessToken)).emailVerified).toBe(false);
    const owner = await call("/v1/auth/email-code/verify", { body: { email, code: await requestCode(email, 2) } });
    expect(owner.status).toBe(200);
    await expectRefused(claimant.accessToken);
    expect((await json(await me((await json(owner)).accessToken))).user).toMatchObject({ email, emailVerified: true });
  });

  it("a guest upgraded in place by an email code (its Bearer token): the warm guest session shows the account at once", async () => {
    const g = await guest();
    expect((await warm(g.accessToken)).isGuest).toBe(true);
    const email = uniqueEmail("brk-code-up");
    const upgraded = await call("/v1/auth/email-code/verify", { token: g.accessToken, body: { email, code: await requestCode(email, 1) } });
    expect(upgraded.status).toBe(200);
    expect((await json(await me(g.accessToken))).user).toMatchObject({ id: g.user.id, isGuest: false, email, emailVerified: true });
    expect((await rpc().verifySession(g.accessToken))?.user).toMatchObject({ isGuest: false, email });
  });

  it("the second factor on, then off by an admin's reset: me shows mfaEnabled at once each time", async () => {
    const account = await verifiedAccount("brk-mfa");
    const pair = await login(account);
    expect((await warm(pair.accessToken)).mfaEnabled).toBe(false);
    const mfa = await enableMfa(pair.accessToken, account.password);
    // The calling session's old access token and the activation's new one: same session, same answer.
    expect((await json(await me(pair.accessToken))).user.mfaEnabled).toBe(true);
    expect((await warm(mfa.tokens.accessToken)).mfaEnabled).toBe(true);
    expect((await adminCall(`/users/${account.userId}/mfa`, { method: "DELETE" })).status).toBeLessThan(300);
    expect((await json(await me(mfa.tokens.accessToken))).user.mfaEnabled).toBe(false);
    expect((await rpc().verifySession(mfa.tokens.accessToken))?.user.mfaEnabled).toBe(false);
  });

  it("document 000's signout and document 001's session delete refuse the warm session at once", async () => {
    const account = await verifiedAccount("brk-compat");
    const a = await login(account);
    const b = await login(account);
    await warm(a.accessToken);
    await warm(b.accessToken);
    const signout = await call("/auth/signout", { token: a.accessToken, body: { refresh_token: a.refreshToken } });
    expect(signout.status).toBeLessThan(300);
    await expectRefused(a.accessToken);
    const deleted = await call(`/auth/${b.sessionId}/sessions`, { method: "DELETE", token: b.accessToken });
    expect(deleted.status).toBeLessThan(300);
    await expectRefused(b.accessToken);
  });

  it("the dead-guest cron: a live guest's warm session is kept; a signed-out one stays refused after the purge", async () => {
    const config = loadConfig(env);
    const live = await guest();
    const ended = await guest();
    await warm(live.accessToken);
    await warm(ended.accessToken);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: ended.refreshToken } })).status).toBe(204);
    await expectRefused(ended.accessToken);
    await purgeExpired(env as Env, Date.now() + config.guestRetentionMs + 86_400_000, config);
    expect(await env.DB.prepare("SELECT 1 FROM users WHERE id = ?").bind(ended.user.id).first()).toBeNull();
    await expectRefused(ended.accessToken);
    expect((await me(live.accessToken)).status).toBe(200);
  });
});

describe("a change racing several me (then one more me, after all answered, must be right)", () => {
  it("a username change: the last me shows D1's username", async () => {
    const account = await verifiedAccount("brk-race-name");
    const pair = await login(account);
    for (let round = 0; round < 4; round++) {
      await warm(pair.accessToken);
      const username = uniqueUsername(`brkr${round}`);
      const racers = [call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username } }), ...Array.from({ length: 4 }, () => me(pair.accessToken))];
      const [changed, ...seen] = await Promise.all(racers);
      expect(changed!.status).toBe(200);
      for (const answer of seen) expect(answer.status).toBe(200);
      expect((await json(await me(pair.accessToken))).user.username).toBe(username);
      expect((await rpc().verifySession(pair.accessToken))?.user.username).toBe(username);
    }
  });

  it("an admin disable: the last me and verifySession refuse", async () => {
    const account = await verifiedAccount("brk-race-disable");
    const pair = await login(account);
    await warm(pair.accessToken);
    const racers = [adminCall(`/users/${account.userId}/disable`, { method: "POST" }), ...Array.from({ length: 4 }, () => me(pair.accessToken))];
    const [disabled] = await Promise.all(racers);
    expect(disabled!.status).toBe(200);
    await expectRefused(pair.accessToken);
  });

  it("the 6th sign-in racing me of the oldest session: the last me refuses it", async () => {
    const account = await verifiedAccount("brk-race-limit");
    const first = await login(account);
    for (let i = 0; i < 4; i++) await login(account);
    await warm(first.accessToken);
    const [sixth] = await Promise.all([call("/v1/auth/login", { body: { email: account.email, password: account.password } }), ...Array.from({ length: 4 }, () => me(first.accessToken))]);
    expect(sixth!.status).toBe(200);
    await expectRefused(first.accessToken);
  });

  it("a sign-in racing revoke-all and me: every session's last me agrees with D1", async () => {
    const account = await verifiedAccount("brk-race-revoke");
    for (let round = 0; round < 3; round++) {
      const held = await login(account);
      await warm(held.accessToken);
      const [signedIn, revoked] = await Promise.all([
        call("/v1/auth/login", { body: { email: account.email, password: account.password } }),
        call("/v1/auth/revoke-all", { method: "POST", token: held.accessToken }),
        me(held.accessToken),
        me(held.accessToken),
      ]);
      expect(revoked!.status).toBe(204);
      expect(signedIn!.status).toBe(200);
      const fresh = await json(signedIn!);
      await expectRefused(held.accessToken);
      // The new session may have started before or after the revocation: me must say what D1 says.
      expect((await me(fresh.accessToken)).status).toBe((await liveInD1(fresh.sessionId)) ? 200 : 401);
      expect((await me(fresh.accessToken)).status).toBe((await liveInD1(fresh.sessionId)) ? 200 : 401);
    }
  });

  it("a password reset racing me: the last me refuses", async () => {
    const account = await verifiedAccount("brk-race-reset");
    const pair = await login(account);
    await warm(pair.accessToken);
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBeLessThan(300);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const [reset] = await Promise.all([
      call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: `${PASSWORD}-new` } }),
      ...Array.from({ length: 4 }, () => me(pair.accessToken)),
    ]);
    expect(reset!.status).toBe(200);
    await expectRefused(pair.accessToken);
  });
});

describe("the object restarts in the middle of a sign-in", () => {
  it("a sign-in begun before a restart cannot register its session after a deletion made on the new instance", async () => {
    const account = await verifiedAccount("brk-restart");
    const stub = stubOf(account.userId);
    // A fresh instance, then one earlier change (as any sign-in or profile edit makes): the
    // sign-in's beginChange then returns the same epoch number the deletion below ends on in the
    // restarted instance (begin, end, erase), so an epoch comparison alone cannot tell them apart.
    await evictDurableObject(stub);
    const earlier = await stub.beginChange();
    await stub.endChange(earlier.id);
    // The sign-in runs for real; its endChange (carrying the new session's registration) is held
    // until the object restarted and the account was deleted on the new instance.
    let heldEnd = false;
    const namespace = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: (id: DurableObjectId) => {
        const real = env.USER_SESSIONS.get(id);
        return new Proxy(real, {
          get(target, key) {
            // This attack is on the sign-in's D1 path (begin, batch, end), which a sign-in the object cannot decide takes.
            if (key === "startSession") return async () => ({ ok: false });
            if (key !== "endChange") return Reflect.get(target, key);
            return async (...args: unknown[]) => {
              heldEnd = true;
              await evictDurableObject(real);
              expect(await deleteAccount(serviceDeps(), account.userId)).not.toBeNull();
              return (target.endChange as (...a: unknown[]) => Promise<void>)(...args);
            };
          },
        });
      },
    };
    const deps: Deps = { ...serviceDeps(), env: { ...env, USER_SESSIONS: namespace } as unknown as Env };
    // Since slice 7 the object holds a full account's D1-path session at that end: the new instance
    // began no such change (and the deletion erased it), so it takes nothing and the sign-in answers 503.
    await expect(signIn(deps, { userId: account.userId, method: "password" })).rejects.toMatchObject({ code: "unavailable" });
    expect(heldEnd).toBe(true);
    // The account is gone: no session row, and its object stores nothing again (API.md §9).
    expect(await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(0);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("a change whose object restarted between its begin and its write (a cold read kept the old row meanwhile): the next me shows the change", async () => {
    const account = await verifiedAccount("brk-restart-change");
    const pair = await login(account);
    await warm(pair.accessToken);
    const username = uniqueUsername("brkrc");
    await changeUser(serviceDeps(), account.userId, async () => {
      await evictDurableObject(stubOf(account.userId));
      // The new instance knows of no pending change: it reads the old row and keeps it.
      expect((await json(await me(pair.accessToken))).user.username).toBe(account.username);
      await env.DB.prepare("UPDATE users SET username = ?, username_normalized = ? WHERE id = ?").bind(username, username.toLowerCase(), account.userId).run();
    });
    // endChange (an id the new instance never saw) still drops what it kept.
    expect((await json(await me(pair.accessToken))).user.username).toBe(username);
    expect((await rpc().verifySession(pair.accessToken))?.user.username).toBe(username);
  });
});
