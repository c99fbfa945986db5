/**
 * Migration 0007 (issue 27, slice 9; docs/edge-sessions.md "Slice 9"): `sessions` keyed by
 * `(user_id, id)` and stored WITHOUT ROWID, with no other index. Sessions of the layout before it
 * (migrations 0000-0006, recreated here) keep their rows and still work after the migration's own
 * statements ran on them; a session id made from now on begins with its user's first 8 hex digits,
 * which is how `DELETE /v1/auth/sessions/:id` still tells another user's session (403) from none
 * (404), the sessions from before through `session_owners`; and every statement the service sends
 * about sessions is answered through the key (EXPLAIN QUERY PLAN in D1: no `SCAN` of the table).
 * And the user's object holds a new session's assurance (API.md §15), D1's row none: its refreshes,
 * vouched or not, and a step-up keep it.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/clustered-layout.test.ts
 */
import { describe, expect, it } from "vitest";
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../../src/config";
import { revocationStatements, revokeInD1 } from "../../src/sessions/object-statements";
import { newSessionId } from "../../src/sessions/owner";
import { purgeExpired } from "../../src/maintenance";
import { ADMIN_KEY, PASSWORD, call, claims, env, expectError, freshIp, guest, inUserSessions, json, login, refreshWith, toLegacyLayout, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countingD1 } from "../helpers/edge";
import { firstFactor, mfaAccount, verify } from "../mfa/helpers";

const DAY = 86_400_000;
const NEW_PASSWORD = "copper-meadow-signal-58";
const migrations = (upTo: string) => env.TEST_MIGRATIONS.filter((m) => m.name.slice(0, 4) <= upTo);
const migration = (prefix: string) => env.TEST_MIGRATIONS.find((m) => m.name.startsWith(prefix))!;
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** The `sessions` table and index as migrations 0000-0006 left them, with `rows` copied back in. */
async function oldLayout(rows: Json[]) {
  const statements = migrations("0006")
    .flatMap((m) => m.queries)
    .filter((q) => /(CREATE TABLE|ALTER TABLE) `sessions`/.test(q) || /CREATE INDEX .* ON `sessions`/.test(q));
  expect(statements).toHaveLength(6); // the table, its user index, the first token's hash, aal, amr, auth_time
  await env.DB.batch([env.DB.prepare("DROP TABLE sessions"), ...statements.map((q) => env.DB.prepare(q))]);
  const insert = (row: Json) => {
    const columns = Object.keys(row);
    return env.DB.prepare(`INSERT INTO sessions (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`).bind(...columns.map((c) => row[c]));
  };
  if (rows.length > 0) await env.DB.batch(rows.map(insert));
}

/** The table's DDL and its indexes' names (SQLite's own included), and `session_owners`' rows. */
async function layout() {
  const rows = (await env.DB.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN ('sessions', 'session_owners') ORDER BY name").all<{ type: string; name: string; tbl_name: string; sql: string | null }>()).results;
  const table = (name: string) => rows.find((r) => r.type === "table" && r.name === name)?.sql ?? "";
  return {
    withoutRowid: /WITHOUT ROWID\s*$/i.test(table("sessions")),
    key: /PRIMARY KEY\s*\(\s*`user_id`\s*,\s*`id`\s*\)/i.test(table("sessions")),
    indexes: rows.filter((r) => r.type === "index" && r.tbl_name === "sessions").map((r) => r.name),
    owners: table("session_owners") !== "",
  };
}

const allRows = async () => (await env.DB.prepare("SELECT * FROM sessions ORDER BY id").all<Json>()).results;
const owners = async () => (await env.DB.prepare("SELECT id, user_id FROM session_owners ORDER BY id").all<Json>()).results;
const deleteSession = (token: string, id: string) => call(`/v1/auth/sessions/${id}`, { method: "DELETE", token });
const listed = async (token: string) => (await json(await call("/v1/auth/sessions", { token }))).sessions.map((s: Json) => s.id).sort();

describe("migration 0007: sessions keyed by (user_id, id), WITHOUT ROWID", () => {
  it("sessions of the layout before it keep their rows, refresh, list, end and tell their owner after it", async () => {
    const a = await verifiedAccount("cl-before-a");
    const b = await verifiedAccount("cl-before-b");
    const ipA = freshIp();
    const pairA = await toLegacyLayout(await login(a, ipA), ipA);
    const ipB = freshIp();
    const pairB = await toLegacyLayout(await login(b), ipB);
    // A session of b as the code before slice 9 made it: a random id, its first token's hash and client in D1.
    const randomB = crypto.randomUUID();
    const now = Date.now();
    const rows = (await allRows()).filter((r) => r.user_id === a.userId || r.user_id === b.userId).map((r) => ({ ...r, last_used_at: r.last_used_at ?? r.created_at }));
    rows.push({ ...rows.find((r) => r.user_id === b.userId), id: randomB, first_refresh_token_hash: "a-hash-no-token-has", ip_address: "203.0.113.9", user_agent: "Old Browser", created_at: now - DAY, last_used_at: now - DAY });
    expect(rows).toHaveLength(3);
    await oldLayout(rows);
    expect(await layout()).toEqual({ withoutRowid: false, key: false, indexes: ["sessions_user_idx", "sqlite_autoindex_sessions_1"], owners: true });
    await env.DB.prepare("DROP TABLE session_owners").run();
    const before = await allRows();

    await env.DB.batch(migration("0007").queries.map((q) => env.DB.prepare(q)));

    expect(await layout()).toEqual({ withoutRowid: true, key: true, indexes: [], owners: true });
    expect(await allRows()).toEqual(before);
    expect(await owners()).toEqual(before.map((r) => ({ id: r.id, user_id: r.user_id })));
    // a's session of the old layout answers me, is adopted by its first refresh, and is listed.
    expect((await call("/v1/auth/me", { token: pairA.accessToken })).status).toBe(200);
    const refreshed = await refreshWith(pairA.refreshToken, ipA);
    expect(refreshed.status).toBe(200);
    const tokensA = await json(refreshed);
    expect(await listed(tokensA.accessToken)).toEqual([pairA.sessionId]);
    // b's listing shows its two rows, the one never adopted as D1 has it.
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId, randomB].sort());
    // Whose session: b's random-id one is found through session_owners (403 for a), an unknown id is 404.
    await expectError(await deleteSession(tokensA.accessToken, randomB), 403, "forbidden");
    await expectError(await deleteSession(tokensA.accessToken, pairB.sessionId), 403, "forbidden");
    await expectError(await deleteSession(tokensA.accessToken, crypto.randomUUID()), 404, "not_found");
    await expectError(await call("/auth/signout", { method: "POST", token: tokensA.accessToken, body: { sessionIds: [randomB] } }), 403, "forbidden");
    // b ends it; a then gets 404 for it, and the purge drops its owner once its row is gone.
    expect((await deleteSession(pairB.accessToken, randomB)).status).toBe(204);
    await expectError(await deleteSession(tokensA.accessToken, randomB), 404, "not_found");
    expect((await owners()).map((o) => o.id)).toContain(randomB);
    await purgeExpired(env as Env, Date.now() + 31 * DAY, loadConfig(env));
    expect((await owners()).map((o) => o.id)).not.toContain(randomB);
    // The foreign key to users kept its cascade through the rebuild (the key's prefix finds the rows).
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(b.userId).run();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").bind(b.userId).first<number>("n")).toBe(0);
  });
});

describe("slice 9: a session id begins with its user's first 8 hex digits", () => {
  it("every way in makes such ids, and another user's session is 403, an unknown one 404", async () => {
    const a = await verifiedAccount("cl-ids-a");
    const b = await verifiedAccount("cl-ids-b");
    const pairA = await login(a);
    const pairB = await login(b);
    const aGuest = await guest();
    for (const pair of [pairA, pairB, aGuest]) expect(pair.sessionId.slice(0, 8)).toBe(pair.user.id.slice(0, 8));
    expect(pairA.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Not from the id's owner: the key range of its prefix finds it.
    await expectError(await deleteSession(pairA.accessToken, pairB.sessionId), 403, "forbidden");
    await expectError(await deleteSession(aGuest.accessToken, pairA.sessionId), 403, "forbidden");
    // An unknown id sharing a's prefix (a's range, no such id) and one sharing none.
    const sameUser = `${a.userId.slice(0, 8)}${crypto.randomUUID().slice(8)}`;
    await expectError(await deleteSession(pairA.accessToken, sameUser), 404, "not_found");
    await expectError(await deleteSession(pairB.accessToken, crypto.randomUUID()), 404, "not_found");
    // A list of 50 ids (the most document 001 takes) goes as one parameter: D1 binds at most 100.
    const many = [...Array.from({ length: 48 }, () => crypto.randomUUID()), pairB.sessionId, aGuest.sessionId];
    await expectError(await call("/auth/signout", { method: "POST", token: pairA.accessToken, body: { sessionIds: many } }), 403, "forbidden");
    // Document 001's signout: a list naming only b's session is 403; a mixed list ends a's own only.
    await expectError(await call("/auth/signout", { method: "POST", token: pairA.accessToken, body: { sessionIds: [pairB.sessionId] } }), 403, "forbidden");
    const second = await login(a);
    expect((await call("/auth/signout", { method: "POST", token: pairA.accessToken, body: { sessionIds: [second.sessionId, pairB.sessionId] } })).status).toBe(200);
    expect(await listed(pairA.accessToken)).toEqual([pairA.sessionId]);
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId]);
    // Ended: 404 to its owner and to anyone.
    expect((await deleteSession(pairB.accessToken, pairB.sessionId)).status).toBe(204);
    await expectError(await deleteSession(pairA.accessToken, pairB.sessionId), 404, "not_found");
  });
});

describe("slice 9: every statement the service sends about sessions goes through the key", () => {
  it("sign-ins, refresh, checks, lists, deletions, revocations, a password change, the admin views and an account's deletion: no full scan", async () => {
    const account = await verifiedAccount("cl-plans");
    const other = await verifiedAccount("cl-plans-other");
    const otherPair = await login(other);
    const first = await login(account);
    const run = await countingD1(account.userId, async (fetchAs) => {
      const ok = async (path: string, options: Parameters<typeof fetchAs>[1], status = 200) => expect((await fetchAs(path, options)).status, path).toBe(status);
      const pair = await json(await fetchAs("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }));
      const third = await json(await fetchAs("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }));
      await ok("/v1/auth/me", { token: pair.accessToken });
      await ok("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } });
      await ok("/v1/auth/sessions", { token: pair.accessToken });
      await ok("/v1/auth/activity", { token: pair.accessToken });
      await ok(`/v1/auth/sessions/${otherPair.sessionId}`, { method: "DELETE", token: pair.accessToken }, 403);
      await ok(`/v1/auth/sessions/${crypto.randomUUID()}`, { method: "DELETE", token: pair.accessToken }, 404);
      await ok(`/v1/auth/sessions/${third.sessionId}`, { method: "DELETE", token: pair.accessToken }, 204);
      await ok("/auth/signout", { method: "POST", token: pair.accessToken, body: { sessionIds: [first.sessionId] } });
      await ok("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, revokeOtherSessions: true } });
      await ok(`/v1/admin/users/${account.userId}`, { headers: admin });
      await ok(`/v1/admin/users?q=${encodeURIComponent(account.email)}`, { headers: admin });
      await ok(`/v1/admin/users/${account.userId}/revoke-sessions`, { method: "POST", headers: admin }, 204);
      const again = await json(await fetchAs("/v1/auth/login", { body: { email: account.email, password: NEW_PASSWORD } }));
      await ok("/v1/auth/revoke-all", { method: "POST", token: again.accessToken }, 204);
      const last = await json(await fetchAs("/v1/auth/login", { body: { email: account.email, password: NEW_PASSWORD } }));
      await ok("/v1/auth/me", { method: "DELETE", token: last.accessToken, body: { password: NEW_PASSWORD } }, 204);
      // A guest's sign-up, refresh and upgrade (the Worker's statements; its own object is not counted).
      const visitor = await json(await fetchAs("/v1/auth/guest", { method: "POST" }));
      await ok("/v1/auth/refresh", { body: { refreshToken: visitor.refreshToken } });
      const name = `clp${crypto.randomUUID().slice(0, 8)}`;
      await ok("/v1/auth/upgrade", { token: visitor.accessToken, body: { email: `${name}@example.com`, username: name, password: PASSWORD } }, 201);
    });
    const statements = [...new Set([...run.workerSql, ...run.objectSql].flat().filter((q) => /\bsessions\b/.test(q)))];
    expect(statements.length).toBeGreaterThanOrEqual(10);
    expect(statements.some((q) => /"sessions"\."user_id" > substr\(wanted\.value, 1, 8\)/.test(q))).toBe(true); // the owner's range
    expect(statements.some((q) => /update "sessions" set "revoked_at"/.test(q))).toBe(true);
    const scans: string[] = [];
    for (const q of statements) {
      const binds = Array.from({ length: (q.match(/\?/g) ?? []).length }, () => null);
      const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q}`).bind(...binds).all<{ detail: string }>()).results;
      for (const step of plan) if (/^SCAN (sessions|"sessions")\b/.test(step.detail)) scans.push(`${step.detail}: ${q}`);
    }
    expect(scans).toEqual([]);
  });
});

describe("slice 9: the user's object holds a session's assurance, D1's row none", () => {
  const d1Assurance = (sessionId: string) => env.DB.prepare("SELECT aal, amr, auth_time FROM sessions WHERE id = ?").bind(sessionId).first();
  const unvouch = (userId: string, sessionId: string) => inUserSessions(userId, (sql) => sql.exec("UPDATE session_state SET checked_epoch = NULL WHERE id = ?", sessionId));

  it("a second factor's sign-in and a step-up stay aal2 through refreshes that read D1", { timeout: 90_000 }, async () => {
    // The factor's activation steps its session up (password, then totp) in the object.
    const account = await mfaAccount("cl-assurance");
    const stepped = account.tokens;
    expect(claims(stepped.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(await d1Assurance(stepped.sessionId)).toEqual({ aal: null, amr: null, auth_time: null });
    await unvouch(account.userId, stepped.sessionId);
    const again = await json(await refreshWith(stepped.refreshToken));
    expect(claims(again.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: claims(stepped.accessToken).auth_time });
    // A sign-in completed by its second factor (mfa/verify, the D1 path held by the object).
    const pending = await firstFactor(account);
    const pair = await json(await verify({ mfaToken: pending.mfaToken, code: await account.authenticator.next() }));
    expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(await d1Assurance(pair.sessionId)).toEqual({ aal: null, amr: null, auth_time: null });
    await unvouch(account.userId, pair.sessionId);
    const refreshed = await json(await refreshWith(pair.refreshToken));
    expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: claims(pair.accessToken).auth_time });
    // A plain sign-in of another account: aal1, its one method, D1 none either.
    const plain = await login(await verifiedAccount("cl-assurance-plain"));
    expect(await d1Assurance(plain.sessionId)).toEqual({ aal: null, amr: null, auth_time: null });
    expect(claims(plain.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  });
});

describe("slice 9: a revocation naming 100 sessions (MAX_SESSIONS_PER_USER's most)", () => {
  it("binds at most 100 parameters a statement (D1's limit) and ends them all", async () => {
    const account = await verifiedAccount("cl-hundred");
    const now = Date.now();
    const ids = Array.from({ length: 100 }, () => newSessionId(account.userId));
    await env.DB.batch(ids.map((id) => env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)").bind(id, account.userId, now, now + DAY)));
    const db = drizzle(env.DB);
    const statements = revocationStatements(db, account.userId, ids, "revoke_all", now, null);
    expect(statements).toHaveLength(101);
    expect(Math.max(...statements.map((q) => q.toSQL().params.length))).toBeLessThanOrEqual(100);
    await revokeInD1(db, account.userId, ids, "revoke_all", now, null);
    const ended = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at = ? AND revoked_reason = 'revoke_all'").bind(account.userId, now).first<number>("n");
    expect(ended).toBe(100);
  });
});
