/**
 * Attacks on issue 27 slice 2 (src/sessions/vouch.ts): a refresh the user object vouches for makes no
 * D1 trip, and D1's copy of a session's expiry may be later than the true one by up to half a token
 * lifetime (the slack). Each case vouches a session (a refresh, then a refresh with no D1 trip), then
 * ends it, changes the account, restarts the object or races requests, and asks the next refresh, `me`,
 * the sessions list or the admin view for what the contract says (API.md §1, §3, §15). Over HTTP in
 * workerd, with the real D1 and user objects.
 *
 * A session "truly expired but live in D1" is made as it happens in production: its last refresh was
 * long ago. The object's clock is moved back 40 days for that refresh (the token's true expiry becomes
 * 10 days ago, D1's 5 days from now), then forward again, so the Worker's clock and the object's agree.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-refresh-break.test.ts
 */
import { createExecutionContext, evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuthRpc } from "../../src/rpc";
import { changeUser } from "../../src/accounts/change-user";
import { deletionStatements } from "../../src/deletion";
import { drizzle } from "drizzle-orm/d1";
import {
  PASSWORD, adminCall, advanceUserClock, call, claims, expectError, guest, json, login, mailbox, mailedToken, refreshWith, serviceDeps,
  uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import { requestCode } from "../helpers/email-code";
import type { Account, Json } from "../helpers";
import { countingD1, userObject } from "../helpers/edge";
import { enableMfa } from "../mfa/helpers";

const DAY = 86_400_000;
const rpc = () => new AuthRpc(createExecutionContext(), env);

/** Refreshes and expects 200: the next pair. */
async function rotate(pair: Json): Promise<Json> {
  const response = await refreshWith(pair.refreshToken);
  expect(response.status).toBe(200);
  return json(response);
}

/**
 * A session the object vouches for: adopted by one refresh, then one more refresh that must make no
 * D1 trip (so the attack really starts from the vouched state). Returns the latest pair.
 */
async function vouched(userId: string, pair: Json): Promise<Json> {
  const adopted = await rotate(pair);
  const run = await countingD1(userId, async (fetchAs) => {
    const response = await fetchAs("/v1/auth/refresh", { body: { refreshToken: adopted.refreshToken } });
    expect(response.status).toBe(200);
    return json(response);
  });
  expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 0, object: 0 });
  return run.value;
}

/** The refresh, `me` and `verifySession` of the pair all refuse (401 `invalid_token`, null). */
async function expectEnded(pair: Json): Promise<void> {
  await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
  expect(await rpc().verifySession(pair.accessToken)).toBeNull();
}

/** The ids the caller's sessions list shows. */
async function listed(accessToken: string): Promise<string[]> {
  const response = await call("/v1/auth/sessions", { token: accessToken });
  expect(response.status).toBe(200);
  return ((await json(response)).sessions as Json[]).map((s) => s.id).sort();
}

/** The ids the admin user view shows. */
async function adminListed(userId: string): Promise<string[]> {
  const response = await adminCall(`/users/${userId}`);
  expect(response.status).toBe(200);
  return ((await json(response)).sessions as Json[]).map((s) => s.id).sort();
}

/** D1's row of the session. */
const d1Row = (sessionId: string) =>
  env.DB.prepare("SELECT expires_at, revoked_at, revoked_reason FROM sessions WHERE id = ?").bind(sessionId)
    .first<{ expires_at: number | null; revoked_at: number | null; revoked_reason: string | null }>();

/**
 * Makes the session's last refresh 40 days ago (see the module comment): its true expiry is then 10
 * days ago, while D1's copy (written with the slack) is 5 days ahead. Returns that refresh's pair.
 */
async function abandonedLongAgo(userId: string, pair: Json): Promise<Json> {
  await advanceUserClock(userId, -40 * DAY);
  const old = await rotate(pair);
  await advanceUserClock(userId, 40 * DAY);
  const row = await d1Row(pair.sessionId);
  expect(row!.revoked_at).toBeNull();
  expect(row!.expires_at!).toBeGreaterThan(Date.now()); // D1 still counts it live...
  return old; // ...while its refresh token expired 10 days ago.
}

describe("a session truly expired while D1's copy is still live (the slack)", () => {
  it("is refused by refresh, me and verifySession, hidden from both lists, across a restart; the refresh ends it in D1", async () => {
    const account = await verifiedAccount("rbrk-exp");
    const other = await login(account);
    const old = await abandonedLongAgo(account.userId, await login(account));
    expect(await listed(other.accessToken)).toEqual([other.sessionId]);
    expect(await adminListed(account.userId)).toEqual([other.sessionId]);
    await evictDurableObject(userObject(account.userId));
    expect(await listed(other.accessToken)).toEqual([other.sessionId]);
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    expect((await d1Row(old.sessionId))!.revoked_reason).toBe("expired");
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
  });

  it("takes no live session's place under the 5-session limit (API.md §1: a 6th *active* session revokes the oldest; failed before the fix)", async () => {
    const account = await verifiedAccount("rbrk-limit");
    const live: Json[] = [];
    for (let i = 0; i < 4; i++) live.push(await login(account));
    await abandonedLongAgo(account.userId, await login(account));
    // The user has 4 active sessions (the list agrees); a new sign-in makes the 5th, which is allowed.
    expect(await listed(live[0]!.accessToken)).toEqual(live.map((p) => p.sessionId).sort());
    const fifth = await login(account);
    expect(await listed(fifth.accessToken)).toEqual([...live, fifth].map((p) => p.sessionId).sort());
    const oldest = await refreshWith(live[0]!.refreshToken);
    expect(oldest.status).toBe(200);
  });

  it("the limit with the expired session the oldest: a 6th active sign-in still evicts the oldest live one, never more", async () => {
    const account = await verifiedAccount("rbrk-limit-old");
    const old = await abandonedLongAgo(account.userId, await login(account));
    const live: Json[] = [];
    for (let i = 0; i < 5; i++) live.push(await login(account));
    expect(await listed(live[4]!.accessToken)).toEqual(live.map((p) => p.sessionId).sort());
    const sixth = await login(account);
    expect(await listed(sixth.accessToken)).toEqual([...live.slice(1), sixth].map((p) => p.sessionId).sort());
    await expectError(await refreshWith(live[0]!.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    expect((await rotate(live[1]!)).sessionId).toBe(live[1]!.sessionId);
  });

  it("revoke-all, delete by id and admin revoke leave no live session behind and answer no 500", async () => {
    const account = await verifiedAccount("rbrk-exp-revoke");
    const a = await login(account);
    const old = await abandonedLongAgo(account.userId, await login(account));
    const deleted = await call(`/v1/auth/sessions/${old.sessionId}`, { method: "DELETE", token: a.accessToken });
    expect(deleted.status).toBe(404);
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: a.accessToken })).status).toBe(204);
    await expectEnded(a);
    await expectError(await refreshWith(old.refreshToken), 401, "invalid_token");
    expect((await adminCall(`/users/${account.userId}/revoke-sessions`, { method: "POST" })).status).toBeLessThan(300);
    expect(await adminListed(account.userId)).toEqual([]);
  });
});

describe("revocations racing vouched refreshes (Promise.all), then one more refresh must refuse", () => {
  /** Fires `end` with four refreshes of the vouched pair's token; each answer is 200 or 401, never 500. */
  async function race(pair: Json, end: () => Promise<Response>): Promise<{ ended: Response; pairs: Json[] }> {
    const [ended, ...answers] = await Promise.all([end(), ...Array.from({ length: 4 }, () => refreshWith(pair.refreshToken))]);
    const pairs: Json[] = [];
    for (const answer of answers) {
      expect([200, 401]).toContain(answer.status);
      if (answer.status === 200) pairs.push(await json(answer));
    }
    return { ended: ended!, pairs };
  }

  it("the same token four times at once: one rotation, one pair for all (the reuse window), with no D1 trip", async () => {
    const account = await verifiedAccount("rbrk-same");
    const pair = await vouched(account.userId, await login(account));
    const run = await countingD1(account.userId, (fetchAs) =>
      Promise.all(Array.from({ length: 4 }, () => fetchAs("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }).then(json))));
    expect(new Set(run.value.map((p: Json) => p.refreshToken)).size).toBe(1);
    expect(run.objectTrips).toBe(0);
    expect((await rotate(run.value[0])).sessionId).toBe(pair.sessionId);
  });

  const ways: { name: string; end: (account: Account, pair: Json, other: Json) => Promise<Response> }[] = [
    { name: "sign-out", end: (_a, pair) => call("/auth/signout", { token: pair.accessToken, body: { refresh_token: pair.refreshToken } }) },
    { name: "revoke", end: (_a, pair) => call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } }) },
    { name: "revoke-all from another session", end: (_a, _p, other) => call("/v1/auth/revoke-all", { method: "POST", token: other.accessToken }) },
    { name: "delete by id", end: (_a, pair, other) => call(`/v1/auth/sessions/${pair.sessionId}`, { method: "DELETE", token: other.accessToken }) },
    {
      name: "password change with revokeOtherSessions",
      end: (a, _p, other) => call("/v1/auth/change-password", { token: other.accessToken, body: { currentPassword: a.password, newPassword: `${PASSWORD}-2`, revokeOtherSessions: true } }),
    },
    { name: "admin disable", end: (a) => adminCall(`/users/${a.userId}/disable`, { method: "POST" }) },
    { name: "admin revoke", end: (a) => adminCall(`/users/${a.userId}/revoke-sessions`, { method: "POST" }) },
    { name: "admin delete", end: (a) => adminCall(`/users/${a.userId}`, { method: "DELETE" }) },
  ];
  for (const way of ways) {
    it(way.name, async () => {
      const account = await verifiedAccount("rbrk-race");
      const other = await login(account);
      const pair = await vouched(account.userId, await login(account));
      const { ended, pairs } = await race(pair, () => way.end(account, pair, other));
      expect(ended.status).toBeLessThan(300);
      for (const got of pairs) await expectEnded(got);
      await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
      await evictDurableObject(userObject(account.userId));
      for (const got of pairs) await expectError(await refreshWith(got.refreshToken), 401, "invalid_token");
    });
  }

  it("a password reset (mailed link)", async () => {
    const account = await verifiedAccount("rbrk-race-reset");
    const pair = await vouched(account.userId, await login(account));
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBeLessThan(300);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const { ended, pairs } = await race(pair, () => call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: `${PASSWORD}-new` } }));
    expect(ended.status).toBe(200);
    for (const got of pairs) await expectEnded(got);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("a self-service deletion (mailed link)", async () => {
    const account = await verifiedAccount("rbrk-race-delete");
    const pair = await vouched(account.userId, await login(account));
    const before = (await mailbox(account.email, 0)).length;
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/delete-account", before + 1);
    const { ended, pairs } = await race(pair, () => call("/v1/auth/confirm-deletion", { body: { token } }));
    expect(ended.status).toBe(200);
    for (const got of pairs) await expectEnded(got);
    await evictDurableObject(userObject(account.userId));
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("the 6th sign-in evicting the vouched oldest session", async () => {
    const account = await verifiedAccount("rbrk-race-limit");
    const oldest = await vouched(account.userId, await login(account));
    for (let i = 0; i < 4; i++) await login(account);
    const { ended, pairs } = await race(oldest, () => call("/v1/auth/login", { body: { email: account.email, password: account.password } }));
    expect(ended.status).toBe(200);
    for (const got of pairs) await expectEnded(got);
    await expectError(await refreshWith(oldest.refreshToken), 401, "invalid_token");
  });

  it("an owner's email-code proof ending a claimant's vouched session (a D1-only revocation)", async () => {
    const email = uniqueEmail("rbrk-claim");
    const g = await guest();
    const claimed = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("rbc"), password: PASSWORD } });
    expect(claimed.status).toBe(201);
    const pair = await vouched(g.user.id, await json(claimed));
    const code = await requestCode(email, 2);
    const { ended, pairs } = await race(pair, () => call("/v1/auth/email-code/verify", { body: { email, code } }));
    expect(ended.status).toBe(200);
    for (const got of pairs) await expectEnded(got);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("reuse detection: a rotated token after the window ends the vouched session, even racing its own successor", async () => {
    const account = await verifiedAccount("rbrk-reuse");
    const first = await vouched(account.userId, await login(account));
    const second = await rotate(first);
    await advanceUserClock(account.userId, 11_000);
    const [reused, successor] = await Promise.all([refreshWith(first.refreshToken), refreshWith(second.refreshToken)]);
    await expectError(reused, 401, "invalid_token");
    if (successor.status === 200) await expectEnded(await json(successor));
    await expectEnded(second);
  });

  it("a guest merged into an account by a login: the guest's vouched session is refused, also after a restart", async () => {
    const account = await verifiedAccount("rbrk-merge");
    const g = await guest();
    const pair = await vouched(g.user.id, g);
    const { ended, pairs } = await race(pair, () => call("/v1/auth/login", { token: pair.accessToken, body: { email: account.email, password: account.password } }));
    expect(ended.status).toBe(200);
    for (const got of pairs) await expectEnded(got);
    await evictDurableObject(userObject(g.user.id));
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });
});

describe("a deletion whose erase never ran, and a change begun before a restart", () => {
  it("the account's D1 rows deleted (with begin/end) but the object not erased: the vouched refresh is refused after a restart", async () => {
    const account = await verifiedAccount("rbrk-noerase");
    const pair = await vouched(account.userId, await login(account));
    const db = drizzle(env.DB);
    await changeUser(serviceDeps(), account.userId, () => db.batch(deletionStatements(db, account.userId) as never));
    expect(await env.DB.prepare("SELECT 1 FROM users WHERE id = ?").bind(account.userId).first()).toBeNull();
    await evictDurableObject(userObject(account.userId));
    await expectEnded(pair);
  });

  it("a revocation written to D1 by a writer whose object restarted after beginChange (no endChange): refused", async () => {
    const account = await verifiedAccount("rbrk-pending-revoke");
    const pair = await vouched(account.userId, await login(account));
    const stub = userObject(account.userId);
    await stub.beginChange();
    await evictDurableObject(stub);
    const between = await rotate(pair); // reads D1 (still live) and must not be vouched for later
    await env.DB.prepare("UPDATE sessions SET revoked_at = ?, revoked_reason = 'address_proven' WHERE id = ?").bind(Date.now(), pair.sessionId).run();
    await expectEnded(between);
  });
});

describe("what a vouched refresh shows after a change completed", () => {
  it("an email change confirmed elsewhere: the other session's next refresh and me show the new address", async () => {
    const account = await verifiedAccount("rbrk-email");
    const a = await login(account);
    const b = await vouched(account.userId, await login(account));
    const newEmail = uniqueEmail("rbrk-email-new");
    expect((await call("/v1/auth/change-email", { token: a.accessToken, body: { newEmail, password: PASSWORD } })).status).toBe(200);
    const token = await mailedToken(newEmail, "/confirm-email-change");
    const [confirmed, ...racing] = await Promise.all([call("/v1/auth/confirm-email-change", { body: { token } }), refreshWith(b.refreshToken)]);
    expect(confirmed.status).toBe(200);
    const latest = racing[0]!.status === 200 ? await json(racing[0]!) : b;
    const next = await rotate(latest);
    expect(next.user).toMatchObject({ email: newEmail, emailVerified: true });
    expect((await json(await call("/v1/auth/me", { token: next.accessToken }))).user.email).toBe(newEmail);
  });

  it("an address verified by the mailed link (a first proof: it ends every session in D1 only): the vouched session is refused; a new one shows it verified", async () => {
    const email = uniqueEmail("rbrk-verify");
    const g = await guest();
    const claimed = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("rbv"), password: PASSWORD } });
    expect(claimed.status).toBe(201);
    const pair = await vouched(g.user.id, await json(claimed));
    expect(pair.user.emailVerified).toBe(false);
    const token = await mailedToken(email, "/verify-email");
    const [verified, racing] = await Promise.all([call("/v1/auth/verify-email", { body: { token } }), refreshWith(pair.refreshToken)]);
    expect(verified.status).toBe(200);
    if (racing!.status === 200) await expectEnded(await json(racing!));
    await expectEnded(pair);
    const fresh = await login({ email, password: PASSWORD });
    expect((await rotate(fresh)).user.emailVerified).toBe(true);
  });

  it("a second factor activated by another session: mfaEnabled shows at once; the other stays aal1, the activating one aal2 after restarts", async () => {
    const account = await verifiedAccount("rbrk-mfa");
    const a = await login(account);
    const b = await vouched(account.userId, await login(account));
    const mfa = await enableMfa(a.accessToken, account.password);
    const bNext = await rotate(b);
    expect(bNext.user.mfaEnabled).toBe(true);
    expect(claims(bNext.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
    const aNext = await rotate(mfa.tokens);
    expect(claims(aNext.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    await evictDurableObject(userObject(account.userId));
    const run = await countingD1(account.userId, async (fetchAs) => json(await fetchAs("/v1/auth/refresh", { body: { refreshToken: aNext.refreshToken } })));
    expect(claims(run.value.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(run.value.aal).toBe("aal2");
    const bAfter = await rotate(bNext);
    expect(claims(bAfter.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
    // A step-up of b: its next (vouched) refresh keeps aal2 and the step-up's auth_time.
    const stepped = await call("/v1/auth/mfa/step-up", { token: bAfter.accessToken, body: { code: await mfa.authenticator.next() } });
    expect(stepped.status).toBe(200);
    const steppedPair = await json(stepped);
    const bStepped = await rotate(steppedPair);
    expect(claims(bStepped.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: claims(steppedPair.accessToken).auth_time });
    // The factor removed by an admin: mfaEnabled false at the next refresh.
    expect((await adminCall(`/users/${account.userId}/mfa`, { method: "DELETE" })).status).toBeLessThan(300);
    expect((await rotate(bStepped)).user.mfaEnabled).toBe(false);
  });

  it("a vouched guest session upgraded in place: its next (vouched) refresh is a full account's, the guest token is refused", async () => {
    const g = await guest();
    const b = await vouched(g.user.id, g);
    const email = uniqueEmail("rbrk-up");
    const upgraded = await call("/v1/auth/upgrade", { token: b.accessToken, body: { email, username: uniqueUsername("rbu"), password: PASSWORD } });
    expect(upgraded.status).toBe(201);
    const up = await json(upgraded);
    // The guest's pre-upgrade token (inside the reuse window) is refused quietly: no guest pair back,
    // and the session goes on (the reissue's successor was not used yet).
    await expectError(await refreshWith(b.refreshToken), 401, "invalid_token");
    const next = await rotate(up);
    const again = await countingD1(g.user.id, async (fetchAs) => json(await fetchAs("/v1/auth/refresh", { body: { refreshToken: next.refreshToken } })));
    for (const pair of [next, again.value]) {
      expect(pair.user).toMatchObject({ isGuest: false, email });
      expect(claims(pair.accessToken).role).toBe("user");
      expect(pair.refreshExpiresIn).toBeGreaterThan(0);
    }
    expect(again.objectTrips).toBe(0);
  });

  it("a username change, then the reuse-window repeat of the token rotated before it: the same pair as before (API.md §1)", async () => {
    const account = await verifiedAccount("rbrk-repeat");
    const pair = await vouched(account.userId, await login(account));
    const next = await rotate(pair);
    const username = uniqueUsername("rbr");
    expect((await call("/v1/auth/me", { method: "PATCH", token: next.accessToken, body: { username } })).status).toBe(200);
    const repeat = await json(await refreshWith(pair.refreshToken));
    expect(repeat.refreshToken).toBe(next.refreshToken);
    // The repeat is the pair already given (its user as then); the rotation after it shows the change.
    expect((await rotate(repeat)).user.username).toBe(username);
  });
});

describe("the object restarting in the middle of refreshes", () => {
  it("a restart racing refreshes: each answer is 200, 401 or a retryable 503; the session ends up with one working token", async () => {
    const account = await verifiedAccount("rbrk-evict-race");
    let pair = await vouched(account.userId, await login(account));
    for (let round = 0; round < 3; round++) {
      const [first, , second] = await Promise.all([refreshWith(pair.refreshToken), evictDurableObject(userObject(account.userId)), refreshWith(pair.refreshToken)]);
      const answers = [first!, second!] as Response[];
      for (const answer of answers) expect([200, 401, 503]).toContain(answer.status);
      const got = await Promise.all(answers.map(async (a) => (a.status === 200 ? json(a) : null)));
      const pairs = got.filter(Boolean) as Json[];
      // Two 200s are the same pair (the reuse window); none means the token is still the current one.
      if (pairs.length === 2) expect(pairs[0].refreshToken).toBe(pairs[1].refreshToken);
      pair = pairs[0] ?? pair;
      pair = await rotate(pair);
      expect(await listed(pair.accessToken)).toEqual([pair.sessionId]);
    }
  });
});

describe("the sessions list racing a session's first refresh", () => {
  // The list runs in the user object's serial queue (src/sessions/session-list.ts), as a refresh's
  // adoption does, so a refresh cannot adopt a session between the list's D1 read and its own view.
  it("the list and the first refresh sent together, 8 rounds: the list is 200 with both sessions, the refresh 200", async () => {
    for (let round = 0; round < 8; round++) {
      const account = await verifiedAccount("rbrk-list-adopt");
      const other = await login(account);
      const first = await login(account);
      const [list, refreshed] = await Promise.all([call("/v1/auth/sessions", { token: first.accessToken }), refreshWith(first.refreshToken)]);
      expect(list.status).toBe(200);
      expect(((await json(list)).sessions as Json[]).map((s) => s.id).sort()).toEqual([other.sessionId, first.sessionId].sort());
      expect(refreshed.status).toBe(200);
      const view = await adminCall(`/users/${account.userId}`);
      expect(((await json(view)).sessions as Json[]).map((s) => s.id).sort()).toEqual([other.sessionId, first.sessionId].sort());
    }
  });
});

describe("malformed or foreign refresh tokens against held sessions", () => {
  it("a token naming a vouched session with a made-up secret, or another user's id: 401, no 500, the session unharmed", async () => {
    const account = await verifiedAccount("rbrk-forge");
    const pair = await vouched(account.userId, await login(account));
    const raw = Uint8Array.from(atob(pair.refreshToken.replace(/-/g, "+").replace(/_/g, "/") + "=="), (c) => c.charCodeAt(0)).slice(0, 64);
    const forged = new Uint8Array(raw);
    forged.set(crypto.getRandomValues(new Uint8Array(32)), 32);
    const encode = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    await expectError(await refreshWith(encode(forged)), 401, "invalid_token");
    const otherUser = new Uint8Array(raw);
    otherUser.set(crypto.getRandomValues(new Uint8Array(16)), 0);
    await expectError(await refreshWith(encode(otherUser)), 401, "invalid_token");
    expect((await rotate(pair)).sessionId).toBe(pair.sessionId);
  });
});
