/**
 * Breaking issue 27's slice 8 (a guest's session held by its user object from the sign-up,
 * src/sessions/issue.ts's D1 path with `endChange(…, { hold })`): races between the batch and the
 * hold, the upgrade of a guest whose D1-path sign-in is held late, sign-out before any refresh, the
 * dead-guest clean-up of a held guest, the 503 path, and legacy rows mixed with held ones. Over
 * HTTP in workerd, with the real D1 and objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/guest-held-break.test.ts
 */
import { createExecutionContext, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { AuthRpc } from "../../src/rpc";
import { purgeExpired } from "../../src/maintenance";
import {
  PASSWORD, adminCall, call, claims, expectError, guest, inUserSessions, json, legacyGuest, objectStorage, refreshWith, rowsOfUser,
  uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import type { Json } from "../helpers";
import { activityOf } from "../helpers/activity";
import { envWithUserSessions, fetchWith, gatedHold, unheldEnv, userObject } from "../helpers/edge";
import type { CallOptions } from "../helpers/http";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";

const config = loadConfig(env);
const DAY = 86_400_000;
/** D1's staged activity rows of the user (src/activity/object-log.ts: drained by the object's alarm). */
const stagedCount = async (userId: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM activity WHERE user_id = ?").bind(userId).first<number>("n")) ?? 0;

const sessionRow = (sessionId: string) =>
  env.DB.prepare("SELECT user_id, expires_at, revoked_reason, first_refresh_token_hash FROM sessions WHERE id = ?")
    .bind(sessionId)
    .first<{ user_id: string; expires_at: number | null; revoked_reason: string | null; first_refresh_token_hash: string | null }>();
const heldIds = (userId: string) =>
  inUserSessions(userId, (sql) => {
    const exists = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session_state'").toArray().length > 0;
    return exists ? sql.exec<{ id: string }>("SELECT id FROM session_state").toArray().map((r) => r.id) : [];
  });
const storedRole = (userId: string) =>
  inUserSessions(userId, (sql) => sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'role'").toArray()[0]?.value);
const rpc = () => new AuthRpc(createExecutionContext(), env);
const listedIds = async (accessToken: string) => (await json(await call("/v1/auth/sessions", { token: accessToken }))).sessions.map((s: Json) => s.id);

/** Registers a software passkey (counter-bearing: its sign-ins take the D1 path, `onlyIf` on the counter) for the token's user. */
async function addPasskey(token: string): Promise<SoftCredential> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token })).status).toBe(201);
  return credential;
}

/** A passkey sign-in, its last request sent with `send` (e.g. a gated env's fetch). */
async function passkeyLogin(credential: SoftCredential, send: (path: string, options?: CallOptions) => Promise<Response> = call): Promise<Response> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
  const response = await assert(credential, { challenge: options.challenge });
  return send("/v1/auth/passkeys/login", { body: { challengeId, response } });
}

/** A guest sign-up whose hold waits until `open()`; `held` resolves with the new guest's id once the batch is written. */
function gatedGuestSignUp() {
  let open!: () => void;
  let reach!: (userId: string) => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held = new Promise<string>((resolve) => (reach = resolve));
  const gated = envWithUserSessions({
    endChange: async (real, changeId, register) => {
      const registration = register as { hold?: unknown; session: { user: { id: string } } } | undefined;
      if (registration?.hold) {
        reach(registration.session.user.id);
        await gate;
      }
      return real(changeId, register);
    },
  });
  const answer = fetchWith(gated, "/v1/auth/guest", { method: "POST" });
  return { answer, held, open };
}

describe("an existing guest's D1-path sign-in held after the guest's upgrade", () => {
  it("does not turn the upgraded account's object back into a guest's: its refreshes stay role user, with an expiry", async () => {
    const g = await guest();
    const credential = await addPasskey(g.accessToken);
    // The guest signs in again with its passkey (the D1 path: the counter's compare-and-set), held late.
    const gated = gatedHold();
    const signingIn = passkeyLogin(credential, gated.fetch);
    await gated.reached;
    // Meanwhile the guest upgrades from its first session.
    const upgrade = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email: uniqueEmail("gh-up"), username: uniqueUsername(), password: PASSWORD } });
    expect(upgrade.status).toBe(201);
    const upgraded = await json(upgrade);
    expect(claims(upgraded.accessToken).role).toBe("user");
    gated.open();
    const late = await signingIn;
    // Its session is not held (it would never expire, and would set the object's role back to
    // "guest"): the sign-in answers 503, its row is ended, and a retry signs the full account in.
    await expectError(late, 503, "unavailable");
    const rows = await env.DB.prepare("SELECT id, revoked_reason FROM sessions WHERE user_id = ? AND id != ?").bind(g.user.id, g.sessionId).all<{ id: string; revoked_reason: string | null }>();
    expect(rows.results.map((r) => r.revoked_reason)).toEqual(["unheld"]);
    expect(await heldIds(g.user.id)).toEqual([g.sessionId]);
    expect(await storedRole(g.user.id)).toBe("user");
    const refreshed = await json(await refreshWith(upgraded.refreshToken));
    expect(claims(refreshed.accessToken).role).toBe("user");
    expect(refreshed.refreshExpiresIn).toBeTypeOf("number");
    const retried = await json(await passkeyLogin(credential));
    expect(claims(retried.accessToken).role).toBe("user");
    expect(retried.refreshExpiresIn).toBeTypeOf("number");
    expect(claims((await json(await refreshWith(retried.refreshToken))).accessToken).role).toBe("user");
  });
});

describe("a new guest's sign-up racing its hold", () => {
  it("an admin deletion between the batch and the hold: 503, nothing left in D1 or in the object", async () => {
    const signUp = gatedGuestSignUp();
    const userId = await signUp.held;
    expect((await adminCall(`/users/${userId}`, { method: "DELETE" })).status).toBe(204);
    signUp.open();
    await expectError(await signUp.answer, 503, "unavailable");
    expect(Object.values(await rowsOfUser(userId)).every((n) => n === 0)).toBe(true);
    expect(await objectStorage(userId)).toEqual({ tables: [], rows: 0 });
  });

  it("an admin disable between the batch and the hold: the session answers nothing after it", async () => {
    const signUp = gatedGuestSignUp();
    const userId = await signUp.held;
    expect((await adminCall(`/users/${userId}/disable`, { method: "POST" })).status).toBe(200);
    signUp.open();
    const answer = await signUp.answer;
    if (answer.status === 200) {
      const pair = await json(answer);
      expect((await call("/v1/auth/me", { token: pair.accessToken })).status).not.toBe(200);
      expect((await refreshWith(pair.refreshToken)).status).not.toBe(200);
    } else {
      expect(answer.status).toBe(503);
    }
    expect(await heldIds(userId)).toEqual([]);
  });
});

describe("a new guest's held session", () => {
  it("concurrent first refreshes get one pair; the session stays one session", async () => {
    const g = await guest();
    const answers = await Promise.all(Array.from({ length: 6 }, () => refreshWith(g.refreshToken)));
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
    const tokens = new Set(await Promise.all(answers.map(async (r) => (await json(r)).refreshToken)));
    expect(tokens.size).toBe(1);
    expect(await heldIds(g.user.id)).toEqual([g.sessionId]);
  });

  it("signed out with its first token before any refresh: nothing live in D1, nothing held, and the clean-up erases the object", async () => {
    const g = await guest();
    expect((await call("/v1/auth/revoke", { body: { refreshToken: g.refreshToken } })).status).toBe(204);
    // `revoke` with no Bearer token records "revoked" (src/sessions/index.ts), with one "signout".
    expect(await sessionRow(g.sessionId)).toMatchObject({ revoked_reason: "revoked" });
    expect(await heldIds(g.user.id)).toEqual([]);
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: g.accessToken }), 401, "invalid_token");
    await purgeExpired(env as Env, Date.now() + config.guestRetentionMs + DAY, config);
    expect(Object.values(await rowsOfUser(g.user.id)).every((n) => n === 0)).toBe(true);
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
  });

  it("a guest that never comes back keeps its session (and its object) however old; nothing is orphaned", async () => {
    const g = await guest();
    await purgeExpired(env as Env, Date.now() + 10 * 365 * DAY, config);
    expect(await heldIds(g.user.id)).toEqual([g.sessionId]);
    expect((await refreshWith(g.refreshToken)).status).toBe(200);
  });

  it("merged into an account right after sign-up: the guest's rows and object storage go, its token is refused", async () => {
    const account = await verifiedAccount("gh-merge");
    const g = await guest();
    expect((await objectStorage(g.user.id)).rows).toBeGreaterThan(0);
    const merged = await call("/v1/auth/login", { token: g.accessToken, body: { email: account.email, password: PASSWORD } });
    expect(merged.status).toBe(200);
    expect(Object.values(await rowsOfUser(g.user.id)).every((n) => n === 0)).toBe(true);
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
  });

  it("upgraded right after sign-up: role user with an expiry, the sign-up's token superseded", async () => {
    const g = await guest();
    const upgrade = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email: uniqueEmail("gh-up2"), username: uniqueUsername(), password: PASSWORD } });
    expect(upgrade.status).toBe(201);
    const upgraded = await json(upgrade);
    expect((await sessionRow(g.sessionId))?.expires_at).toBeTypeOf("number");
    expect(await storedRole(g.user.id)).toBe("user");
    const refreshed = await json(await refreshWith(upgraded.refreshToken));
    expect(claims(refreshed.accessToken).role).toBe("user");
    expect(refreshed.refreshExpiresIn).toBeTypeOf("number");
    expect((await refreshWith(g.refreshToken)).status).toBe(401);
  });

  it("a guest with a passkey has more than one session, each held, all listed; deleting it erases its object", async () => {
    const g = await guest();
    const credential = await addPasskey(g.accessToken);
    const second = await json(await passkeyLogin(credential));
    expect(claims(second.accessToken).role).toBe("guest");
    expect((await heldIds(g.user.id)).sort()).toEqual([g.sessionId, second.sessionId].sort());
    expect((await listedIds(g.accessToken)).sort()).toEqual([g.sessionId, second.sessionId].sort());
    expect((await adminCall(`/users/${g.user.id}`, { method: "DELETE" })).status).toBe(204);
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
  });

  it("when the object cannot take it: 503, the row unheld, the orphaned guest pruned after the retention", async () => {
    const before = Date.now();
    await expectError(await fetchWith(unheldEnv(), "/v1/auth/guest", { method: "POST" }), 503, "unavailable");
    const orphan = await env.DB.prepare("SELECT s.id AS sessionId, s.user_id AS userId, s.revoked_reason AS reason FROM sessions s WHERE s.created_at >= ? AND s.revoked_reason = 'unheld'")
      .bind(before)
      .first<{ sessionId: string; userId: string; reason: string }>();
    expect(orphan?.reason).toBe("unheld");
    expect(await heldIds(orphan!.userId)).toEqual([]);
    const retry = await guest();
    expect((await call("/v1/auth/me", { token: retry.accessToken })).status).toBe(200);
    await purgeExpired(env as Env, Date.now() + config.guestRetentionMs + DAY, config);
    expect(Object.values(await rowsOfUser(orphan!.userId)).every((n) => n === 0)).toBe(true);
  });
});

describe("legacy rows mixed with held ones", () => {
  it("a legacy guest signing in by passkey (held) still refreshes its legacy session, lists both, and upgrades both", async () => {
    const g = await legacyGuest();
    expect((await sessionRow(g.sessionId))?.first_refresh_token_hash).not.toBeNull();
    const credential = await addPasskey(g.accessToken);
    const second = await json(await passkeyLogin(credential));
    expect((await listedIds(second.accessToken)).sort()).toEqual([g.sessionId, second.sessionId].sort());
    const legacyRefreshed = await json(await refreshWith(g.refreshToken));
    expect(claims(legacyRefreshed.accessToken).role).toBe("guest");
    const upgrade = await call("/v1/auth/upgrade", { token: second.accessToken, body: { email: uniqueEmail("gh-mix"), username: uniqueUsername(), password: PASSWORD } });
    expect(upgrade.status).toBe(201);
    const next = await json(await refreshWith(legacyRefreshed.refreshToken));
    expect(claims(next.accessToken).role).toBe("user");
    expect(next.refreshExpiresIn).toBeTypeOf("number");
    for (const id of [g.sessionId, second.sessionId]) expect((await sessionRow(id))?.expires_at).toBeTypeOf("number");
  });
});

describe("a new guest's sign-up that dies after its object's beginChange", () => {
  it("leaves no storage in an object whose user was never written (nothing could ever erase it)", async () => {
    const { runInDurableObject } = await import("cloudflare:test");
    // The object runs `beginChange`, then its answer is lost (a transient failure, or the Worker
    // cancelled there): the sign-up ends before its batch, with no `endChange`.
    const names: string[] = [];
    const failing = envWithUserSessions({
      beginChange: async (real, ...args) => {
        await real(...args);
        throw new Error("Network connection lost (test)");
      },
    });
    const recording = {
      ...failing,
      USER_SESSIONS: {
        idFromName: (name: string) => (names.push(name), failing.USER_SESSIONS.idFromName(name)),
        get: (id: DurableObjectId) => failing.USER_SESSIONS.get(id),
      },
    } as unknown as Env;
    await expectError(await fetchWith(recording, "/v1/auth/guest", { method: "POST" }), 503, "unavailable");
    const userId = names[0]!;
    expect(await env.DB.prepare("SELECT id FROM users WHERE id = ?").bind(userId).first()).toBeNull();
    const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
    const kept = await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => [...state.storage.kv.list()].map(([key]) => key));
    expect(kept).toEqual([]);
    expect(await objectStorage(userId)).toEqual({ tables: [], rows: 0 });
  });
});

describe("a new guest's held session after its sign-up", () => {
  it("me and AuthRpc.verifySession answer at once, after an eviction of the object too, and refuse after sign-out", async () => {
    const g = await guest();
    expect((await call("/v1/auth/me", { token: g.accessToken })).status).toBe(200);
    expect(await rpc().verifySession(g.accessToken)).not.toBeNull();
    await evictDurableObject(userObject(g.user.id));
    expect(await rpc().verifySession(g.accessToken)).not.toBeNull();
    const refreshed = await json(await refreshWith(g.refreshToken));
    expect(claims(refreshed.accessToken)).toMatchObject({ sub: g.user.id, role: "guest" });
    expect((await call("/v1/auth/revoke", { token: refreshed.accessToken, body: { refreshToken: refreshed.refreshToken } })).status).toBe(204);
    expect(await rpc().verifySession(refreshed.accessToken)).toBeNull();
    await expectError(await call("/v1/auth/me", { token: refreshed.accessToken }), 401, "invalid_token");
  });

  it("a guest's sessions count toward the limit of five: a 6th (passkey, held on the D1 path) ends the sign-up's", async () => {
    const g = await guest();
    const credential = await addPasskey(g.accessToken);
    // The registration's `passkey_added` drained now: what D1 stages below is the sign-ins' alone.
    await runDurableObjectAlarm(userObject(g.user.id));
    expect(await stagedCount(g.user.id)).toBe(0);
    const pairs: Json[] = [];
    for (let i = 0; i < config.maxSessionsPerUser; i++) {
      const response = await passkeyLogin(credential);
      expect(response.status).toBe(200);
      pairs.push(await json(response));
    }
    expect(await sessionRow(g.sessionId)).toMatchObject({ revoked_reason: "session_limit" });
    // The eviction's `session_revoked` was staged in D1 by the batch: the hold armed its drain.
    expect(await stagedCount(g.user.id)).toBe(1);
    expect(await runDurableObjectAlarm(userObject(g.user.id))).toBe(true);
    expect(await stagedCount(g.user.id)).toBe(0);
    expect((await activityOf(g.user.id, "session_revoked")).map((e) => [e.session_id, e.place])).toEqual([[g.sessionId, "object"]]);
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: g.accessToken }), 401, "invalid_token");
    expect(await rpc().verifySession(g.accessToken)).toBeNull();
    const newest = pairs[pairs.length - 1]!;
    expect((await listedIds(newest.accessToken)).sort()).toEqual(pairs.map((p) => p.sessionId).sort());
    for (const pair of pairs) expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });
});
