/**
 * The far-user simulation's wrappers (bench only, never in src/): `env.DB` with the latency model's
 * round trip to D1's primary before every statement, batch and exec (reads in a Sessions-API session,
 * `withSession`, pay the trip to a read replica instead, `BENCH_REPLICA_DELAY_MS`), and every
 * Durable Object stub call (fetch and RPC, on USER_SESSIONS, RATE_LIMITER and LOGIN_CHALLENGES) with the round trip to
 * an object near the caller. Each wrapper counts what it delays, into `counters` (one isolate runs the
 * Worker, AuthRpc and both object classes locally, so one set of module-level counters sees them all).
 *
 * Rows: D1's own `meta` (`rows_read`, `rows_written`, `changes`, `size_after`) of every statement,
 * read where the binding receives it (`tapMeta`: its session's `_sendOrThrow` / `_queryOrThrow`, which
 * every `first`, `raw`, `all`, `run`, `batch` and `exec` goes through; `first` and `raw` return no meta
 * of their own), with the statement's text, so writes are counted per table and the development mail
 * outbox (a mail API call in production) can be left out.
 *
 * @example
 * const env2 = farEnv(env, { d1Ms: 150, doMs: 4, replicaMs: 10 });   // then hand env2 to the service
 * counters.request.d1Trips;                              // D1 round trips of the current request
 */

/** What one request (or the whole run, `totals`) cost in hops and rows. */
export interface HopCount {
  /** D1 calls that crossed to the primary: statements, batches, execs. */
  d1Trips: number;
  /** D1 reads sent to a read replica (Sessions API), not counted in d1Trips. */
  d1ReplicaTrips: number;
  /** Of those, trips that had to wait for the one before (none in flight when it started): the serial trips. */
  d1Serial: number;
  /** D1 calls that wrote (a batch or statement with rows_written > 0): write transactions. */
  d1Writes: number;
  rowsRead: number;
  rowsWritten: number;
  changes: number;
  /** Rows written by table (first table named by INSERT INTO / UPDATE / DELETE FROM / REPLACE INTO). */
  writtenByTable: Record<string, number>;
  /** Durable Object stub calls by binding (USER_SESSIONS, RATE_LIMITER, LOGIN_CHALLENGES). */
  doCalls: Record<string, number>;
  /** Rows written to development-only tables (DEV_ONLY_TABLES), left out of the other figures. */
  devOnlyRows: number;
  /** The database's size after the last statement (D1 meta.size_after), bytes. */
  sizeAfter: number;
}

export function emptyCount(): HopCount {
  return { d1Trips: 0, d1ReplicaTrips: 0, d1Serial: 0, d1Writes: 0, rowsRead: 0, rowsWritten: 0, changes: 0, writtenByTable: {}, doCalls: {}, devOnlyRows: 0, sizeAfter: 0 };
}

/** Tables whose writes are development plumbing: in production mail goes to an API, not to D1. */
export const DEV_ONLY_TABLES = new Set(["mail_outbox"]);

export const counters = { request: emptyCount(), totals: emptyCount(), inFlight: 0, metaSeen: false };

/** Starts a new request's count (the entry calls it as each HTTP request or RPC call begins). */
export function beginRequest(): void {
  counters.request = emptyCount();
}

export interface Delays {
  /** Round trip to D1's primary, ms (150 for a user on another continent, 6 near it). */
  d1Ms: number;
  /** Round trip to a Durable Object near the caller, ms (4). */
  doMs: number;
  /** Round trip to a D1 read replica near the caller (Sessions API reads), ms. */
  replicaMs: number;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

function both(fn: (c: HopCount) => void) {
  fn(counters.request);
  fn(counters.totals);
}

function tableOf(sql: string): string | undefined {
  return /^\s*(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+["`]?(\w+)/i.exec(sql)?.[1];
}

interface D1Meta {
  rows_read?: number;
  rows_written?: number;
  changes?: number;
  size_after?: number;
}

/** Adds one D1 answer's metas (one per statement, in order) to the counts; one trip, a write if any row was written. */
function record(sqls: string[], results: unknown): void {
  const list = (Array.isArray(results) ? results : [results]) as { meta?: D1Meta }[];
  let written = 0;
  list.forEach((result, i) => {
    const meta = result?.meta;
    if (!meta) return;
    counters.metaSeen = true;
    const table = tableOf(sqls[i] ?? "");
    const rows = meta.rows_written ?? 0;
    if (table && DEV_ONLY_TABLES.has(table)) {
      both((c) => (c.devOnlyRows += rows));
      return;
    }
    written += rows;
    both((c) => {
      c.rowsRead += meta.rows_read ?? 0;
      c.rowsWritten += rows;
      c.changes += meta.changes ?? 0;
      if (meta.size_after) c.sizeAfter = meta.size_after;
      if (table && rows > 0) c.writtenByTable[table] = (c.writtenByTable[table] ?? 0) + rows;
    });
  });
  if (written > 0) both((c) => (c.d1Writes += 1));
}

type Sender = (...args: unknown[]) => Promise<unknown>;
const tapped = new WeakSet<object>();

/**
 * Reads D1's meta where the binding's session receives it. Internal names of workerd's D1 binding
 * (`alwaysPrimarySession`, `_sendOrThrow`, `_queryOrThrow`): if they change, `counters.metaSeen`
 * stays false and the run says the row counts are missing instead of printing zeros.
 */
function tapMeta(session: object | undefined): void {
  if (!session || tapped.has(session)) return;
  tapped.add(session);
  const s = session as Record<string, Sender>;
  for (const name of ["_sendOrThrow", "_queryOrThrow"] as const) {
    const original = s[name];
    if (typeof original !== "function") continue;
    s[name] = async function (this: unknown, ...args: unknown[]) {
      const result = await original.apply(this, args);
      let sqls: string[] = [];
      if (name === "_sendOrThrow") sqls = ([] as string[]).concat(args[1] as string | string[]);
      else sqls = ((args[0] as { queries?: { sql: string }[] })?.queries ?? []).map((q) => q.sql);
      record(sqls, result);
      return result;
    };
  }
}

/** Where a query goes: D1's primary, or (through the Sessions API) a read replica. */
type Target = "primary" | "replica";

/** One crossing: counted (a replica read apart), serial if no other D1 call was in flight, delayed, then made. */
async function trip<T>(delays: Delays, target: Target, call: () => Promise<T>): Promise<T> {
  const serial = counters.inFlight === 0;
  counters.inFlight++;
  both((c) => {
    if (target === "replica") c.d1ReplicaTrips++;
    else {
      c.d1Trips++;
      if (serial) c.d1Serial++;
    }
  });
  try {
    await sleep(target === "replica" ? delays.replicaMs : delays.d1Ms);
    return await call();
  } finally {
    counters.inFlight--;
  }
}

const WRITE = /^\s*(insert|update|delete|replace|create|drop|alter)\b/i;

/**
 * Picks the target of each query: the plain binding always reaches the primary; a Sessions-API
 * session sends writes to the primary and reads to a replica, except the first query of a
 * "first-primary" session (D1's read-replication rules).
 */
function router(constraint: string | null): (sqls: string[]) => Target {
  let first = true;
  return (sqls) => {
    const wasFirst = first;
    first = false;
    if (constraint === null) return "primary";
    if (sqls.some((q) => WRITE.test(q))) return "primary";
    return constraint === "first-primary" && wasFirst ? "primary" : "replica";
  };
}

const REAL = Symbol("real statement");
const SQL = Symbol("statement text");
type Wrapped = D1PreparedStatement & { [REAL]: D1PreparedStatement; [SQL]: string };
type Route = (sqls: string[]) => Target;

function wrapStatement(real: D1PreparedStatement, text: string, delays: Delays, route: Route): Wrapped {
  const go = <T>(call: () => Promise<T>) => trip(delays, route([text]), call);
  return {
    [REAL]: real,
    [SQL]: text,
    bind: (...values: unknown[]) => wrapStatement(real.bind(...values), text, delays, route),
    first: ((column?: string) => go(() => (column === undefined ? real.first() : real.first(column)))) as D1PreparedStatement["first"],
    run: (() => go(() => real.run())) as D1PreparedStatement["run"],
    all: (() => go(() => real.all())) as D1PreparedStatement["all"],
    raw: ((options?: { columnNames?: boolean }) => go(() => real.raw(options as { columnNames: true }))) as D1PreparedStatement["raw"],
  } as Wrapped;
}

const unwrap = (statement: D1PreparedStatement) => (statement as Wrapped)[REAL] ?? statement;

/** A D1 database or Sessions-API session whose every query pays the round trip to where it goes first. */
function wrapQueries<T extends D1Database | D1DatabaseSession>(real: T, delays: Delays, route: Route): T {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql, delays, route);
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => trip(delays, route(statements.map((s) => (s as Wrapped)[SQL] ?? "")), () => target.batch(statements.map(unwrap)));
      }
      if (prop === "exec") return (sql: string) => trip(delays, route([sql]), () => (target as D1Database).exec(sql));
      if (prop === "withSession") {
        return (constraint?: string) => {
          const session = (target as D1Database).withSession(constraint as D1SessionConstraint);
          tapMeta(session);
          return wrapQueries(session, delays, router(constraint ?? "first-unconstrained"));
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A stub whose every call (fetch or RPC method) pays `delays.doMs` first; `id` and `name` as they are. */
function wrapStub<S extends object>(real: S, binding: string, delays: Delays): S {
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function" || prop === "constructor") return value;
      return async (...args: unknown[]) => {
        both((c) => (c.doCalls[binding] = (c.doCalls[binding] ?? 0) + 1));
        await sleep(delays.doMs);
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

function wrapNamespace<N extends object>(real: N, binding: string, delays: Delays): N {
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "get" || prop === "getByName") {
        return (...args: unknown[]) => wrapStub(Reflect.apply(value as (...a: unknown[]) => object, target, args), binding, delays);
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const wrappedEnvs = new WeakMap<object, Env>();

/**
 * `env` with D1 and both object namespaces wrapped; the same wrapped object for the same `env`, so
 * what the service caches per binding (its prepared liveness read) stays cached. Delays from
 * `BENCH_D1_DELAY_MS` and `BENCH_DO_DELAY_MS` unless given.
 */
export function farEnv(env: Env, given?: Delays): Env {
  const known = wrappedEnvs.get(env);
  if (known) return known;
  const vars = env as unknown as Record<string, string | undefined>;
  const d1Ms = Number(vars.BENCH_D1_DELAY_MS ?? 0);
  const delays = given ?? { d1Ms, doMs: Number(vars.BENCH_DO_DELAY_MS ?? 0), replicaMs: Number(vars.BENCH_REPLICA_DELAY_MS ?? d1Ms) };
  tapMeta((env.DB as unknown as { alwaysPrimarySession?: object }).alwaysPrimarySession);
  const wrapped = {
    ...env,
    DB: wrapQueries(env.DB, delays, router(null)),
    USER_SESSIONS: wrapNamespace(env.USER_SESSIONS, "USER_SESSIONS", delays),
    RATE_LIMITER: wrapNamespace(env.RATE_LIMITER, "RATE_LIMITER", delays),
    LOGIN_CHALLENGES: wrapNamespace(env.LOGIN_CHALLENGES, "LOGIN_CHALLENGES", delays),
  } as unknown as Env;
  wrappedEnvs.set(env, wrapped);
  return wrapped;
}
