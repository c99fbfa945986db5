/**
 * Migration 0006 (issue 27 item 4, docs/edge-sessions.md "Slice 8"): the `passkeys` table rebuilt
 * without the key on `id` and without the user-handle index. A passkey registered on the layout
 * before it (the table and indexes of migration 0001, recreated here from the migrations the tests
 * apply) keeps its row and still signs in, renames, lists and removes after the migration's own
 * statements run on it, and the cascade from users holds; and every statement the service sends about `passkeys` is answered through
 * an index (EXPLAIN QUERY PLAN in D1: no `SCAN` of the table), the queries by id included.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/lean-layout.test.ts
 */
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, PASSWORD, call, env, expectError, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countingD1 } from "../helpers/edge";
import type { FetchAs } from "../helpers/edge";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { PK_TEXT } from "./break-helpers";

const migration = (prefix: string) => env.TEST_MIGRATIONS.find((m) => m.name.startsWith(prefix))!;

/** The `passkeys` table and indexes as migrations 0001-0005 left them, rows dropped. */
async function oldLayout() {
  const statements = migration("0001").queries.filter((q) => /(CREATE TABLE|ON) `passkeys`/.test(q));
  expect(statements).toHaveLength(4); // the table, the credential, user and user-handle indexes
  await env.DB.batch([env.DB.prepare("DROP TABLE passkeys"), ...statements.map((q) => env.DB.prepare(q))]);
}

/** The names of the table's indexes (SQLite's own autoindex included) and whether its DDL has a primary key. */
async function layout() {
  const rows = (await env.DB.prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'passkeys' ORDER BY name").all<{ type: string; name: string; sql: string | null }>()).results;
  return { indexes: rows.filter((r) => r.type === "index").map((r) => r.name), primaryKey: /PRIMARY KEY/i.test(rows.find((r) => r.type === "table")!.sql!) };
}

const allRows = async () => (await env.DB.prepare("SELECT * FROM passkeys ORDER BY created_at, id").all()).results;

async function register(fetchAs: FetchAs, token: string, credential: SoftCredential, name: string) {
  const { challengeId, options } = await json(await fetchAs("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  return fetchAs("/v1/auth/passkeys/register", { body: { challengeId, response, name }, token });
}

async function signIn(fetchAs: FetchAs, credential: SoftCredential, counter?: number) {
  const { challengeId, options } = await json(await fetchAs("/v1/auth/passkeys/login/options", { method: "POST" }));
  const response = await assert(credential, { challenge: options.challenge, ...(counter === undefined ? {} : { counter }) });
  return fetchAs("/v1/auth/passkeys/login", { body: { challengeId, response } });
}

const direct: FetchAs = (path, options) => call(path, options);

describe("migration 0006: a leaner passkeys table", () => {
  it("a passkey registered before the migration keeps its row and still signs in after it", async () => {
    await oldLayout();
    expect(await layout()).toEqual({ indexes: ["passkeys_credential_id_unique", "passkeys_user_handle_idx", "passkeys_user_idx", "sqlite_autoindex_passkeys_1"], primaryKey: true });
    const account = await verifiedAccount("pk-lean-before");
    const pair = await login(account);
    const counted = await softCredential("ES256");
    const uncounted = await softCredential("RS256");
    const first = await json(await register(direct, pair.accessToken, counted, "Phone"));
    const second = await json(await register(direct, pair.accessToken, uncounted, "Laptop"));
    expect((await signIn(direct, counted)).status).toBe(200); // sign_count 1, last_used_at set
    const before = await allRows();
    expect(before).toHaveLength(2);

    await env.DB.batch(migration("0006").queries.map((q) => env.DB.prepare(q)));

    expect(await layout()).toEqual({ indexes: ["passkeys_credential_id_unique", "passkeys_user_idx"], primaryKey: false });
    expect(await allRows()).toEqual(before);
    // Both sign in: the counter's compare-and-set by user and id, and a passkey with no counter.
    const afterCounted = await signIn(direct, counted);
    expect(afterCounted.status).toBe(200);
    expect((await json(afterCounted)).accessToken).toEqual(expect.any(String));
    expect((await signIn(direct, uncounted, 0)).status).toBe(200);
    expect((await signIn(direct, counted, 1)).status).toBe(401); // a counter that did not increase
    const rows = await env.DB.prepare(`SELECT ${PK_TEXT} AS id, sign_count, last_used_at IS NOT NULL AS used FROM passkeys WHERE user_id = ? ORDER BY created_at`).bind(account.userId).all();
    expect(rows.results).toEqual([
      { id: first.passkey.id, sign_count: 2, used: 1 },
      { id: second.passkey.id, sign_count: 0, used: 1 },
    ]);
    // The same ids list, rename and remove; the credential is still unique (409 on a second registration).
    const listed = await json(await call("/v1/auth/passkeys", { token: pair.accessToken }));
    expect(listed.passkeys.map((p: Json) => [p.id, p.name])).toEqual([[first.passkey.id, "Phone"], [second.passkey.id, "Laptop"]]);
    expect((await call(`/v1/auth/passkeys/${second.passkey.id}`, { method: "PATCH", body: { name: "Desk" }, token: pair.accessToken })).status).toBe(200);
    await expectError(await register(direct, pair.accessToken, counted, "Again"), 409, "conflict");
    expect((await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken })).status).toBe(204);
    expect((await json(await call("/v1/auth/passkeys", { token: pair.accessToken }))).passkeys.map((p: Json) => [p.id, p.name])).toEqual([[second.passkey.id, "Desk"]]);
    // The foreign key to users kept its cascade through the rebuild.
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(account.userId).run();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?").bind(account.userId).first<number>("n")).toBe(0);
  });

  it("every statement the service sends about passkeys is answered through an index", async () => {
    const account = await verifiedAccount("pk-lean-plans");
    const pair = await login(account);
    const run = await countingD1(account.userId, async (fetchAs) => {
      const counted = await softCredential("ES256");
      const uncounted = await softCredential("ES256");
      const first = await json(await register(fetchAs, pair.accessToken, counted, "Phone"));
      expect((await register(fetchAs, pair.accessToken, uncounted, "Key")).status).toBe(201);
      expect((await signIn(fetchAs, counted)).status).toBe(200);
      expect((await signIn(fetchAs, uncounted, 0)).status).toBe(200);
      expect((await fetchAs("/v1/auth/passkeys", { token: pair.accessToken })).status).toBe(200);
      expect((await fetchAs(`/v1/auth/passkeys/${first.passkey.id}`, { method: "PATCH", body: { name: "Desk" }, token: pair.accessToken })).status).toBe(200);
      expect((await fetchAs(`/v1/admin/users/${account.userId}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
      expect((await fetchAs(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken })).status).toBe(204);
    });
    const statements = [...new Set([...run.workerSql, ...run.objectSql].flat().filter((q) => /\bpasskeys\b/.test(q)))];
    expect(statements.length).toBeGreaterThanOrEqual(8);
    // The sign-in's lookup by credential id binds both stored forms (src/passkeys/bytes.ts).
    expect(statements.some((q) => /"credential_id" IN \(\?, \?\)/.test(q))).toBe(true);
    expect(statements.some((q) => /update "passkeys" set .*"sign_count" = \?/.test(q))).toBe(true);
    const scans: string[] = [];
    for (const q of statements) {
      const binds = Array.from({ length: (q.match(/\?/g) ?? []).length }, () => null);
      const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q}`).bind(...binds).all<{ detail: string }>()).results;
      for (const step of plan) if (/^SCAN (passkeys|other)\b/.test(step.detail)) scans.push(`${step.detail}: ${q}`);
    }
    expect(scans).toEqual([]);
  });
});
