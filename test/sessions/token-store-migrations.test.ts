/**
 * The per-user object's versioned schema (src/db/object-migrations.ts, TOKEN_STORE_MIGRATIONS): an
 * object that already holds sessions moves to a next schema version without losing one, an object
 * from before versioning adopts version 1 as it is, and code one version behind still runs on a
 * migrated object.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, schemaVersion } from "../../src/db/object-migrations";
import type { Migration } from "../../src/db/object-migrations";
import { TOKEN_STORE_MIGRATIONS, TokenStore } from "../../src/sessions/token-store";
import { call, guest, json, refreshWith } from "../helpers";

const stubOf = (userId: string) => env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
const me = (accessToken: string) => call("/v1/auth/me", { token: accessToken });

/** A next version, for the test only: a new nullable column and a new table, as real steps would be. */
const NEXT: Migration = (sql) => {
  sql.exec("ALTER TABLE session_state ADD COLUMN label TEXT");
  sql.exec("CREATE TABLE IF NOT EXISTS notes (session_id TEXT PRIMARY KEY, note TEXT NOT NULL)");
};

describe("the user object's schema version", () => {
  it("is stored in the object, at the length of TOKEN_STORE_MIGRATIONS", async () => {
    const g = await guest();
    // A session is adopted by the object at its first rotation: that is when its storage begins.
    expect((await refreshWith(g.refreshToken)).status).toBe(200);
    const version = await runInDurableObject(stubOf(g.user.id), (_i, state) => schemaVersion(state.storage.sql));
    expect(version).toBe(TOKEN_STORE_MIGRATIONS.length);
  });

  it("moves an object holding sessions to the next version without losing one", async () => {
    const g = await guest();
    const rotated = await json(await refreshWith(g.refreshToken));
    const stub = stubOf(g.user.id);

    const reached = await runInDurableObject(stub, (_i, state) => migrate(state.storage, [...TOKEN_STORE_MIGRATIONS, NEXT]));
    expect(reached).toBe(TOKEN_STORE_MIGRATIONS.length + 1);
    const columns = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('session_state')").toArray().map((c) => c.name),
    );
    expect(columns).toContain("label");
    // Running it again changes nothing: only steps past the stored version run.
    expect(await runInDurableObject(stub, (_i, state) => migrate(state.storage, [...TOKEN_STORE_MIGRATIONS, NEXT]))).toBe(reached);

    // The session survived, and the object (restarted, its code one version behind) still serves it.
    await evictDurableObject(stub);
    expect((await me(rotated.accessToken)).status).toBe(200);
    const next = await refreshWith(rotated.refreshToken);
    expect(next.status).toBe(200);
    expect((await json(next)).sessionId).toBe(g.sessionId);
    expect(await runInDurableObject(stub, (_i, state) => schemaVersion(state.storage.sql))).toBe(reached);
  });

  it("adopts version 1 on storage written before versioning, keeping its rows", async () => {
    // A fresh object's storage stands in for one created before versioning: the same tables, no version.
    const stub = stubOf(crypto.randomUUID());
    const kept = await runInDurableObject(stub, (_i, state) => {
      const sql = state.storage.sql;
      // The tables as the object created them before versioning: version 1's, without the version row.
      migrate(state.storage, TOKEN_STORE_MIGRATIONS.slice(0, 1));
      sql.exec("DROP TABLE schema_version");
      sql.exec("INSERT INTO session_state (id, created_at, expires_at) VALUES ('s1', 1, NULL)");
      sql.exec("INSERT INTO tokens (hash, session_id, issued_at) VALUES ('h1', 's1', 1)");
      expect(schemaVersion(sql)).toBe(0);
      expect(migrate(state.storage, TOKEN_STORE_MIGRATIONS)).toBe(TOKEN_STORE_MIGRATIONS.length);
      const store = new TokenStore(sql);
      return { session: store.session("s1"), token: store.token("h1")?.session_id };
    });
    // Its rows are kept, and the later versions' columns are added (empty).
    expect(kept).toEqual({ session: expect.objectContaining({ id: "s1", created_at: 1, expires_at: null, checked_epoch: null }), token: "s1" });
  });

  it("rolls a failing step back whole and keeps the last version reached", async () => {
    const stub = stubOf(crypto.randomUUID());
    const outcome = await runInDurableObject(stub, (_i, state) => {
      const broken: Migration = (sql) => {
        sql.exec("CREATE TABLE half_done (x INTEGER)");
        sql.exec("SELECT * FROM no_such_table");
      };
      let error: unknown;
      try {
        migrate(state.storage, [...TOKEN_STORE_MIGRATIONS, broken]);
      } catch (e) {
        error = e;
      }
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((t) => t.name);
      return { failed: error instanceof Error, version: schemaVersion(state.storage.sql), tables };
    });
    expect(outcome.failed).toBe(true);
    expect(outcome.version).toBe(TOKEN_STORE_MIGRATIONS.length);
    expect(outcome.tables).not.toContain("half_done");
  });
});
