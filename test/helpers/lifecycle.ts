/**
 * Helpers for the account lifecycle and admin tests: admin calls, every D1 row kept about a user,
 * the storage of a user's object, and a D1 binding that counts its round trips.
 */
import { env } from "cloudflare:workers";
import { call } from "./http";
import type { CallOptions } from "./http";

export const ADMIN_KEY = (env as unknown as { ADMIN_API_KEY: string }).ADMIN_API_KEY;

export function adminCall(path: string, options: CallOptions = {}): Promise<Response> {
  return call(`/v1/admin${path}`, { ...options, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...options.headers } });
}

/** How many rows each D1 table holds for `userId` (email codes by its address; counters by its login key). */
export async function rowsOfUser(userId: string, emailNormalized?: string): Promise<Record<string, number>> {
  const count = async (query: string, ...binds: unknown[]) =>
    ((await env.DB.prepare(query).bind(...binds).first<{ n: number }>())?.n ?? 0);
  return {
    users: await count("SELECT COUNT(*) AS n FROM users WHERE id = ?", userId),
    sessions: await count("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?", userId),
    identities: await count("SELECT COUNT(*) AS n FROM identities WHERE user_id = ?", userId),
    passkeys: await count("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?", userId),
    webauthn_challenges: await count("SELECT COUNT(*) AS n FROM webauthn_challenges WHERE user_id = ?", userId),
    one_time_tokens: await count("SELECT COUNT(*) AS n FROM one_time_tokens WHERE user_id = ?", userId),
    activity: await count("SELECT COUNT(*) AS n FROM activity WHERE user_id = ?", userId),
    counters: await count("SELECT COUNT(*) AS n FROM counters WHERE key = ?", `login:${userId}`),
    email_codes: emailNormalized ? await count("SELECT COUNT(*) AS n FROM email_codes WHERE email_normalized = ?", emailNormalized) : 0,
  };
}

/** The names of the tables in a user's object storage, and their row count (Cloudflare's own `_cf_` tables left out). */
export async function objectStorage(userId: string): Promise<{ tables: string[]; rows: number }> {
  const { runInDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
  return runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => {
    const tables = state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%'")
      .toArray()
      .map((t) => t.name);
    let rows = 0;
    for (const table of tables) rows += state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${table}"`).one().n;
    return { tables, rows };
  });
}

/**
 * The real D1 binding, counting round trips: one per batch, one per statement run on its own, and
 * keeping each trip's SQL (`sent()`: one list of statements per trip, in order). The statements stay
 * the real objects (their methods are wrapped), so batch accepts them.
 */
export function countingDb(db: D1Database = env.DB): { db: D1Database; trips: () => number; sent: () => string[][] } {
  const sent: string[][] = [];
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    sqlOf.set(statement, query);
    const s = statement as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ["all", "raw", "run", "first"]) {
      const original = s[method]!.bind(statement);
      s[method] = (...args: unknown[]) => {
        sent.push([query]);
        return original(...args);
      };
    }
    const bind = s.bind!.bind(statement);
    s.bind = (...args: unknown[]) => wrap(bind(...args) as D1PreparedStatement, query);
    return statement;
  };
  const counted = {
    prepare: (query: string) => wrap(db.prepare(query), query),
    batch: (statements: D1PreparedStatement[]) => {
      sent.push(statements.map((statement) => sqlOf.get(statement) ?? "?"));
      return db.batch(statements);
    },
    exec: (query: string) => {
      sent.push([query]);
      return db.exec(query);
    },
    dump: () => db.dump(),
    withSession: (...args: Parameters<D1Database["withSession"]>) => db.withSession(...args),
  };
  return { db: counted as unknown as D1Database, trips: () => sent.length, sent: () => sent.map((trip) => [...trip]) };
}
