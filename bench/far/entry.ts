/**
 * The far-user simulation's entry module (bench only; `npm run bench:far` serves it in place of
 * src/index.ts): the service's Worker, `AuthRpc` and its Durable Object classes, unchanged, but each
 * handed an `env` whose D1 and object stubs pay the latency model's round trips
 * (bench/far/hops.ts; `BENCH_D1_DELAY_MS`, `BENCH_DO_DELAY_MS`). Every answer carries
 * `x-bench-hops`: the JSON count of D1 trips, rows and object calls made before it was sent.
 *
 * Bench routes (only here): `POST /__bench/verify-session {accessToken}` calls `AuthRpc.verifySession`
 * over RPC (`ctx.exports.AuthRpc`: the same entrypoint another Worker reaches by a service binding,
 * which in production runs in the caller's location: no hop of its own), answering `{ session }`;
 * `GET /__bench/totals` the run's cumulative counts (D1 meta included) and `DELETE /__bench/totals`
 * resets them; `GET /__bench/size` the database's size now (one `select 1`, D1 `meta.size_after`; the bytes per
 * table are read from the persisted SQLite file by bench/far/capacity.mjs); `POST /__bench/rows
 * {tables: [{table, columns, rows}]}` inserts the rows (arrays in `columns` order, a BLOB as `{ hex }`) into each table in
 * one D1 batch, `INSERT … SELECT` over `json_each` of the rows, on the service's own D1 (no latency
 * model), answering `{ inserted: { table: rows } }` (the capacity step's copies at scale,
 * bench/far/scale.mjs).
 *
 * @example
 * // wrangler.far.toml (written by bench/far/run.mjs): main = "bench/far/entry.ts"
 * curl -s -D- http://127.0.0.1:8796/v1/auth/me -H 'authorization: Bearer …' | grep x-bench-hops
 */
import worker, { AuthRpc as ServiceRpc, LoginChallengeObject as ServiceChallenge, RateLimiter as ServiceLimiter, UserSessions as ServiceSessions } from "../../src/index";
import { beginRequest, counters, emptyCount, farEnv } from "./hops";

export class UserSessions extends ServiceSessions {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, farEnv(env));
  }
}

export class RateLimiter extends ServiceLimiter {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, farEnv(env));
  }
}

export class LoginChallengeObject extends ServiceChallenge {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, farEnv(env));
  }
}

export class AuthRpc extends ServiceRpc {
  constructor(ctx: ExecutionContext, env: Env) {
    super(ctx, farEnv(env));
  }
}

/** The answer with the current request's counts in `x-bench-hops`. */
function withHops(response: Response): Response {
  const answer = new Response(response.body, response);
  answer.headers.set("x-bench-hops", JSON.stringify(counters.request));
  return answer;
}

interface RpcLoopback {
  AuthRpc: { verifySession(token: string): Promise<unknown> };
}

/** The database's size now: D1's `meta.size_after` of a `select 1` (bytes). */
async function size(env: Env) {
  await farEnv(env).DB.prepare("select 1").run();
  return { sizeAfter: counters.totals.sizeAfter, metaSeen: counters.metaSeen };
}

/** Rows for `POST /__bench/rows`: each row an array of SQL values in `columns` order. */
interface TableRows {
  table: string;
  columns: string[];
  rows: unknown[][];
}

const NAME = /^[a-z_][a-z0-9_]*$/i;

/** Inserts each table's rows in one D1 batch (all or none); returns the rows inserted by table. Throws on a name that is no plain identifier. */
async function insertRows(env: Env, tables: TableRows[]) {
  const statements = tables.map(({ table, columns, rows }) => {
    if (![table, ...columns].every((name) => NAME.test(name))) throw new Error(`not a plain identifier in ${table}`);
    // A BLOB travels as `{ hex }` (bench/far/scale.mjs).
    const values = columns.map((_, i) => `CASE json_type(value, '$[${i}]') WHEN 'object' THEN unhex(json_extract(value, '$[${i}].hex')) ELSE json_extract(value, '$[${i}]') END`).join(", ");
    return env.DB.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) SELECT ${values} FROM json_each(?1)`).bind(JSON.stringify(rows));
  });
  const results = await env.DB.batch(statements);
  return { inserted: Object.fromEntries(tables.map(({ table }, i) => [table, results[i]?.meta.changes ?? 0])) };
}

async function bench(request: Request, env: Env, ctx: ExecutionContext, path: string): Promise<Response> {
  if (path === "/__bench/verify-session" && request.method === "POST") {
    const { accessToken } = await request.json<{ accessToken: string }>();
    beginRequest();
    const session = await (ctx.exports as unknown as RpcLoopback).AuthRpc.verifySession(accessToken);
    return withHops(Response.json({ session }));
  }
  if (path === "/__bench/totals") {
    if (request.method === "DELETE") counters.totals = emptyCount();
    return Response.json({ totals: counters.totals, metaSeen: counters.metaSeen });
  }
  if (path === "/__bench/size") return Response.json(await size(env));
  if (path === "/__bench/rows" && request.method === "POST") {
    const { tables } = await request.json<{ tables: TableRows[] }>();
    return Response.json(await insertRows(env, tables));
  }
  return Response.json({ error: "not_found" }, { status: 404 });
}

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/__bench/")) return bench(request, env, ctx, path);
    beginRequest();
    return withHops(await worker.fetch(request, farEnv(env), ctx));
  },
  scheduled: (controller, env, ctx) => worker.scheduled(controller, farEnv(env), ctx),
} satisfies ExportedHandler<Env>;
