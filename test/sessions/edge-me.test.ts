/**
 * Issue 27, slice 1: `GET /v1/auth/me` and `AuthRpc.verifySession` answer from the user object's
 * liveness cache (src/sessions/profile-object.ts) with no D1 trip when warm, and still show every
 * change and refuse every ended session at once. Each case warms the cache first (two checks), then
 * changes the account over HTTP (or as an admin), then checks again. Over HTTP in workerd, with the
 * real D1 and object; D1 is counted by wrapping the binding of the Worker and of the object itself.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-me.test.ts
 */
import { createExecutionContext, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuthRpc } from "../../src/rpc";
import {
  BASE, PASSWORD, adminCall, call, countingDb, expectError, forgeAccessToken, guest, json, login, mailedToken, serviceDeps,
  uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import { countingD1 } from "../helpers/edge";
import { deleteAccount } from "../../src/deletion";

const me = (token: string) => call("/v1/auth/me", { token });
const rpc = () => new AuthRpc(createExecutionContext(), env);
const stubOf = (userId: string) => env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));

/** `me` twice: the second answer comes from a warm cache (the first may read D1). */
async function warm(token: string) {
  expect((await me(token)).status).toBe(200);
  const answer = await me(token);
  expect(answer.status).toBe(200);
  return (await json(answer)).user;
}

/** `countingD1` (test/helpers/edge.ts) with a `me` call through the counted Worker. */
const countingMe = <T>(userId: string, fn: (fetchMe: (token: string) => Promise<Response>) => Promise<T>) =>
  countingD1(userId, (fetchAs) => fn((token) => fetchAs("/v1/auth/me", { token })));

describe("a warm me makes no D1 trip", () => {
  it("answers me and verifySession from the object: 0 D1 trips in the Worker and in the object; a change costs one read", async () => {
    const account = await verifiedAccount("edge-warm");
    const pair = await login(account);
    await warm(pair.accessToken);
    const warmRun = await countingMe(account.userId, async (fetchMe) => {
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await fetchMe(pair.accessToken));
      return answers.map((a) => a.status);
    });
    expect(warmRun.value).toEqual([200, 200, 200]);
    expect({ worker: warmRun.workerTrips, object: warmRun.objectTrips }).toEqual({ worker: 0, object: 0 });

    // The counter can fail: after a change the next check reads D1 once (in the object), then not again.
    const username = uniqueUsername("edgew");
    expect((await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username } })).status).toBe(200);
    const cold = await countingMe(account.userId, async (fetchMe) => [await json(await fetchMe(pair.accessToken)), await json(await fetchMe(pair.accessToken))]);
    expect(cold.value.map((b) => b.user.username)).toEqual([username, username]);
    expect({ worker: cold.workerTrips, object: cold.objectTrips }).toEqual({ worker: 0, object: 1 });
  });

  it("verifySession through AuthRpc: no D1 trip when warm", async () => {
    const g = await guest();
    expect(await rpc().verifySession(g.accessToken)).toMatchObject({ userId: g.user.id });
    const entry = countingDb();
    const run = await countingMe(g.user.id, async () => {
      const counted = { ...env, DB: entry.db } as Env;
      return new AuthRpc(createExecutionContext(), counted).verifySession(g.accessToken);
    });
    expect(run.value).toMatchObject({ userId: g.user.id, sessionId: g.sessionId, user: { isGuest: true } });
    expect({ entrypoint: entry.trips(), object: run.objectTrips }).toEqual({ entrypoint: 0, object: 0 });
  });
});

describe("me after a change shows it, or refuses, at once (cache warmed first)", () => {
  it("profile: username and picture (PATCH /v1/auth/me)", async () => {
    const account = await verifiedAccount("edge-profile");
    const pair = await login(account);
    await warm(pair.accessToken);
    const username = uniqueUsername("edgep");
    const picture = "https://cdn.example.com/edge.png";
    expect((await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username, profilePicture: picture } })).status).toBe(200);
    expect((await json(await me(pair.accessToken))).user).toMatchObject({ username, profilePicture: picture });
    expect((await rpc().verifySession(pair.accessToken))?.user).toMatchObject({ username, profilePicture: picture });
  });

  it("email change confirmed by the mailed link", async () => {
    const account = await verifiedAccount("edge-email");
    const pair = await login(account);
    await warm(pair.accessToken);
    const newEmail = uniqueEmail("edge-moved");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail, password: PASSWORD } })).status).toBe(200);
    const token = await mailedToken(newEmail, "/confirm-email-change");
    expect((await call("/v1/auth/confirm-email-change", { body: { token } })).status).toBe(200);
    expect((await json(await me(pair.accessToken))).user).toMatchObject({ email: newEmail, emailVerified: true });
  });

  it("verify-email: the owner's first proof ends the sessions made on the unproven claim (D1-side revocation), at once", async () => {
    const g = await guest();
    const email = uniqueEmail("edge-verify");
    const upgraded = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("edgev"), password: PASSWORD } });
    expect(upgraded.status).toBe(201);
    const pair = await json(upgraded);
    expect((await warm(pair.accessToken)).emailVerified).toBe(false);
    expect(await rpc().verifySession(pair.accessToken)).not.toBeNull();
    const token = await mailedToken(email, "/verify-email");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    // src/accounts/address-proven.ts revokes in the proof's own D1 batch, not in the object.
    await expectError(await me(pair.accessToken), 401, "invalid_token");
    expect(await rpc().verifySession(pair.accessToken)).toBeNull();
    expect((await json(await me((await login({ email, password: PASSWORD })).accessToken))).user.emailVerified).toBe(true);
  });

  it("upgrade: the guest's session shows a full account", async () => {
    const g = await guest();
    expect((await warm(g.accessToken)).isGuest).toBe(true);
    const email = uniqueEmail("edge-up");
    const upgraded = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("edgeu"), password: PASSWORD } });
    expect(upgraded.status).toBe(201);
    const pair = await json(upgraded);
    expect((await json(await me(pair.accessToken))).user).toMatchObject({ isGuest: false, email });
  });

  it("admin disable refuses me and verifySession at once; enable brings no ended session back", async () => {
    const account = await verifiedAccount("edge-disable");
    const pair = await login(account);
    await warm(pair.accessToken);
    expect(await rpc().verifySession(pair.accessToken)).not.toBeNull();
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    await expectError(await me(pair.accessToken), 401, "invalid_token");
    expect(await rpc().verifySession(pair.accessToken)).toBeNull();
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    await expectError(await me(pair.accessToken), 401, "invalid_token");
  });

  it("deletion (the service's deleteAccount, as the admin API, the cron and the mailed link call it) refuses at once", async () => {
    const g = await guest();
    await warm(g.accessToken);
    expect(await rpc().verifySession(g.accessToken)).not.toBeNull();
    expect(await deleteAccount(serviceDeps(), g.user.id)).not.toBeNull();
    await expectError(await me(g.accessToken), 401, "invalid_token");
    expect(await rpc().verifySession(g.accessToken)).toBeNull();
  });

  it("the 6th session's sign-in ends the oldest, whose warm me is refused at once", async () => {
    const account = await verifiedAccount("edge-limit");
    const first = await login(account);
    await warm(first.accessToken);
    for (let i = 0; i < 5; i++) await login(account);
    await expectError(await me(first.accessToken), 401, "invalid_token");
  });
});

describe("sessions the object never registered (the legacy lookup)", () => {
  it("a session written to D1 directly (as the code before this slice did) works through the D1 fallback, then warm", async () => {
    const account = await verifiedAccount("edge-legacy");
    const sessionId = crypto.randomUUID();
    const now = Date.now();
    await env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?)")
      .bind(sessionId, account.userId, now, now, now + 86_400_000)
      .run();
    const token = await forgeAccessToken({ userId: account.userId, sessionId, role: "user" });
    const first = await countingMe(account.userId, async (fetchMe) => fetchMe(token));
    expect(first.value.status).toBe(200);
    expect(first.objectTrips).toBe(1);
    const second = await countingMe(account.userId, async (fetchMe) => fetchMe(token));
    expect(second.value.status).toBe(200);
    expect(second.objectTrips + second.workerTrips).toBe(0);
    // Revoked in D1 by the object's own path (revoke-all reads D1's live rows): refused at once.
    expect((await call("/v1/auth/revoke-all", { method: "POST", token })).status).toBe(204);
    await expectError(await me(token), 401, "invalid_token");
  });

  it("an object restarted (cache lost) answers from D1 once, and refuses an unknown session id", async () => {
    const g = await guest();
    await warm(g.accessToken);
    await evictDurableObject(stubOf(g.user.id));
    expect((await me(g.accessToken)).status).toBe(200);
    const stranger = await forgeAccessToken({ userId: g.user.id, sessionId: crypto.randomUUID() });
    await expectError(await me(stranger), 401, "invalid_token");
  });
});
