/**
 * Issue 27, slice 7: a full account's sign-in that the Worker writes in D1 (src/sessions/issue.ts's
 * D1 path: a second factor's `mfa/verify`, a guest merged by a login, and any sign-in the object
 * could not decide) is held by the user's object from the start (src/sessions/user-object.ts
 * `endChange` with `hold`): D1's row gets no first token's hash, and its first refresh needs no
 * adoption and no D1 trip. When the object cannot take it, the row is ended and the sign-in answers
 * 503. A new guest's sign-up is held the same way (slice 8). Over HTTP in workerd, with the real
 * D1 and objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/held-from-start.test.ts
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, advanceUserClock, call, claims, expectError, guest, inUserSessions, json, objectStorage, refreshWith, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { activityOf } from "../helpers/activity";
import { countingD1, fetchWith, unheldEnv, userObject } from "../helpers/edge";
import { firstFactor, mfaAccount, verify } from "../mfa/helpers";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });

const d1Row = (sessionId: string) =>
  env.DB.prepare("SELECT expires_at, revoked_reason, first_refresh_token_hash, ip_address, user_agent FROM sessions WHERE id = ?")
    .bind(sessionId)
    .first<{ expires_at: number | null; revoked_reason: string | null; first_refresh_token_hash: string | null; ip_address: string | null; user_agent: string | null }>();
const heldSession = (userId: string, sessionId: string) =>
  inUserSessions(userId, (sql) => sql.exec<{ id: string; checked_epoch: number | null }>("SELECT id, checked_epoch FROM session_state WHERE id = ?", sessionId).toArray()[0]);

/** A second factor's sign-in: password, then a TOTP code (the D1 path). */
async function mfaSignIn(label: string) {
  const account = await mfaAccount(label);
  const pending = await firstFactor(account);
  const response = await verify({ mfaToken: pending.mfaToken, code: await account.authenticator.next() });
  expect(response.status).toBe(200);
  return { account, pair: (await json(response)) as Json };
}

describe("a full account's session written in D1 by the Worker", () => {
  it("is held by the object at once: no first token's hash in D1, an expiry there no earlier than the token's, the session vouched", async () => {
    const { account, pair } = await mfaSignIn("held-mfa");
    const row = await d1Row(pair.sessionId);
    expect(row).toMatchObject({ revoked_reason: null, first_refresh_token_hash: null });
    // The refresh token's expiry, as the answer gives it; D1's is later by the slack (src/sessions/vouch.ts).
    expect(row!.expires_at).toBeGreaterThan(Date.now() + pair.refreshExpiresIn * 1000);
    const held = await heldSession(account.userId, pair.sessionId);
    expect(held?.id).toBe(pair.sessionId);
    expect(held?.checked_epoch).not.toBeNull();
    // The sign-in's event is the object's, kept with the session (slice 8), never staged in D1.
    expect((await activityOf(account.userId, "sign_in")).filter((e) => e.session_id === pair.sessionId)).toEqual([
      expect.objectContaining({ method: "password+totp", place: "object" }),
    ]);
  });

  it("refreshes with no D1 trip, keeps its aal2, and its first token is then reuse after the window", async () => {
    const { account, pair } = await mfaSignIn("held-refresh");
    const run = await countingD1(account.userId, async (fetchAs) => json(await fetchAs("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } })));
    expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 0, object: 0 });
    expect(claims(run.value.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    // Inside the reuse window the first token gets the same pair; after it, reuse ends the session.
    expect((await json(await refreshWith(pair.refreshToken))).refreshToken).toBe(run.value.refreshToken);
    await advanceUserClock(account.userId, 11_000);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(run.value.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: run.value.accessToken }), 401, "invalid_token");
    expect(await d1Row(pair.sessionId)).toMatchObject({ revoked_reason: "reuse" });
  });

  it("is listed, signed out by its token, and ended by revoke-all like any other", async () => {
    const { account, pair } = await mfaSignIn("held-list");
    const list = await json(await call("/v1/auth/sessions", { token: pair.accessToken }));
    expect(list.sessions.map((s: Json) => s.id)).toContain(pair.sessionId);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBe(204);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    const second = await mfaSignInAgain(account);
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: second.accessToken })).status).toBe(204);
    await expectError(await refreshWith(second.refreshToken), 401, "invalid_token");
  });

  it("holds a merged guest's sign-in too (a login with the guest's token)", async () => {
    const account = await verifiedAccount("held-merge");
    const g = await guest();
    const response = await call("/v1/auth/login", { token: g.accessToken, body: { email: account.email, password: PASSWORD } });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(await d1Row(pair.sessionId)).toMatchObject({ first_refresh_token_hash: null });
    expect((await heldSession(account.userId, pair.sessionId))?.id).toBe(pair.sessionId);
    const run = await countingD1(account.userId, async (fetchAs) => (await fetchAs("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } })).status);
    expect(run.value).toBe(200);
    expect(run.workerTrips + run.objectTrips).toBe(0);
  });

  it("leaves no client in D1 once the object holds the session (it is of record), and the list still shows it", async () => {
    const client = { ip: "198.51.100.23", headers: { "user-agent": "Held/7" } };
    const account = await verifiedAccount("held-client");
    const password = await json(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD }, ...client }));
    await userObject(account.userId).settle();
    const g = await json(await call("/v1/auth/guest", { method: "POST", ...client }));
    // A new guest's session is held from its sign-up too (slice 8): D1 keeps no client from the start.
    expect(await d1Row(g.sessionId)).toMatchObject({ ip_address: null, user_agent: null });
    const refreshed = await json(await call("/v1/auth/refresh", { body: { refreshToken: g.refreshToken }, ...client }));
    const { pair } = await mfaSignIn("held-client-mfa");
    for (const sessionId of [password.sessionId, g.sessionId, pair.sessionId]) expect(await d1Row(sessionId)).toMatchObject({ ip_address: null, user_agent: null });
    for (const token of [password.accessToken, refreshed.accessToken]) {
      const listed = await json(await call("/v1/auth/sessions", { token }));
      expect(listed.sessions.find((s: Json) => s.current)).toMatchObject({ ipAddress: "198.51.100.23", userAgent: "Held/7" });
    }
  });

  it("holds a new guest's session from its sign-up (slice 8): no hash or client in D1, and its first refresh makes no D1 trip", async () => {
    const g = await json(await call("/v1/auth/guest", { method: "POST", ip: "198.51.100.24", headers: { "user-agent": "Guest/8" } }));
    expect(await d1Row(g.sessionId)).toMatchObject({ expires_at: null, revoked_reason: null, first_refresh_token_hash: null, ip_address: null, user_agent: null });
    expect((await heldSession(g.user.id, g.sessionId))?.checked_epoch).not.toBeNull();
    // Its `sign_in` is kept by the object with the session: nothing staged in D1, nothing to drain.
    expect(await activityOf(g.user.id)).toEqual([expect.objectContaining({ type: "sign_in", method: "guest", session_id: g.sessionId, ip_address: "198.51.100.24", user_agent: "Guest/8", place: "object" })]);
    // The object is of record for the guest's client: the list shows the sign-up's.
    const listed = await json(await call("/v1/auth/sessions", { token: g.accessToken }));
    expect(listed.sessions).toEqual([expect.objectContaining({ id: g.sessionId, current: true, ipAddress: "198.51.100.24", userAgent: "Guest/8" })]);
    const run = await countingD1(g.user.id, async (fetchAs) => json(await fetchAs("/v1/auth/refresh", { body: { refreshToken: g.refreshToken } })));
    expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 0, object: 0 });
    expect(claims(run.value.accessToken)).toMatchObject({ sub: g.user.id, sid: g.sessionId });
    // A guest's session still never expires: refreshed after a year, it lives.
    await advanceUserClock(g.user.id, 366 * 24 * 3600 * 1000);
    expect((await refreshWith(run.value.refreshToken)).status).toBe(200);
  });

  it("when the object cannot take the session: 503, the D1 row ended (reason unheld), and a new sign-in works", async () => {
    const account = await mfaAccount("held-fail");
    const pending = await firstFactor(account);
    // The account's object takes the change's end but not the session: its `endChange` with `hold` fails.
    const failing = unheldEnv();
    const response = await fetchWith(failing, "/v1/auth/mfa/verify", {
      body: { mfaToken: pending.mfaToken, code: await account.authenticator.next() },
    });
    await expectError(response, 503, "unavailable");
    const ended = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ? AND created_at > ? ORDER BY created_at DESC")
      .bind(account.userId, Date.now() - 60_000)
      .all<{ id: string; revoked_reason: string | null }>();
    const unheld = ended.results.filter((r) => r.revoked_reason === "unheld");
    expect(unheld).toHaveLength(1);
    expect(await heldSession(account.userId, unheld[0]!.id)).toBeUndefined();
    const again = await mfaSignInAgain(account);
    expect((await call("/v1/auth/me", { token: again.accessToken })).status).toBe(200);
  });
});

/** Another second factor's sign-in of the same account. */
async function mfaSignInAgain(account: Awaited<ReturnType<typeof mfaAccount>>): Promise<Json> {
  const pending = await firstFactor(account);
  const response = await verify({ mfaToken: pending.mfaToken, code: await account.authenticator.next() });
  expect(response.status).toBe(200);
  return json(response);
}
