/**
 * Counting D1 round trips on both sides of a request (issue 27): the Worker's own env (the request
 * goes to the Worker's fetch with a counted binding) and the user object's env (swapped on the live
 * instance), so a test can assert that a route made no trip to the D1 primary.
 *
 * @example
 * const run = await countingD1(userId, (fetchAs) => fetchAs("/v1/auth/me", { token }));
 * expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 0, object: 0 });
 * const gate = await holdObjectD1(userId); // the object's D1 batches wait until gate.open()
 */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src";
import { callRequest } from "./http";
import type { CallOptions } from "./http";
import { countingDb } from "./lifecycle";

/** The user's object stub (`idFromName(userId)`). */
export const userObject = (userId: string) => env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));

/** Sends a request as `call` does, to the Worker's fetch with `environment`, waiting for its `waitUntil` work. */
export async function fetchWith(environment: Env, path: string, options?: CallOptions): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch!(callRequest(path, options) as never, environment, ctx);
  await waitOnExecutionContext(ctx);
  return response as unknown as Response;
}

/** Sends a request as `call` does, to the Worker's fetch with the given env. */
export type FetchAs = (path: string, options?: CallOptions) => Promise<Response>;

/**
 * Runs `fn` with the D1 binding counted in the Worker's env and in the user object's env. Returns
 * `fn`'s result and the trips each side made (one per statement run alone, one per batch), with
 * each trip's SQL (`workerSql`, `objectSql`: a list of statements per trip).
 */
export async function countingD1<T>(userId: string, fn: (fetchAs: FetchAs) => Promise<T>) {
  const inWorker = countingDb();
  const inObject = countingDb();
  const stub = userObject(userId);
  const original = await runInDurableObject(stub, (object: unknown) => {
    const instance = object as { env: Env };
    const kept = instance.env;
    Object.defineProperty(instance, "env", { value: { ...kept, DB: inObject.db }, configurable: true, writable: true });
    return kept;
  });
  const countedEnv = { ...env, DB: inWorker.db } as Env;
  const fetchAs: FetchAs = (path, options) => fetchWith(countedEnv, path, options);
  try {
    const value = await fn(fetchAs);
    return { value, workerTrips: inWorker.trips(), objectTrips: inObject.trips(), workerSql: inWorker.sent(), objectSql: inObject.sent() };
  } finally {
    await runInDurableObject(stub, (instance: unknown) => {
      Object.defineProperty(instance, "env", { value: original, configurable: true, writable: true });
    });
  }
}

/**
 * Shuts the user object's D1 batches until `open()`; with `fail`, they throw instead (D1 unreachable
 * from the object only). `restore()` puts the real binding back.
 */
export async function holdObjectD1(userId: string, fail = false) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const real = env.DB;
  const held = {
    prepare: (query: string) => real.prepare(query),
    batch: async (statements: D1PreparedStatement[]) => {
      if (fail) throw new Error("D1_ERROR: unreachable (test)");
      await gate;
      return real.batch(statements);
    },
    exec: (query: string) => real.exec(query),
  } as unknown as D1Database;
  await runInDurableObject(userObject(userId), (object: unknown) => {
    const instance = object as { env: Env };
    Object.defineProperty(instance, "env", { value: { ...instance.env, DB: held }, configurable: true, writable: true });
  });
  const restore = () =>
    runInDurableObject(userObject(userId), (object: unknown) => {
      const instance = object as { env: Env };
      Object.defineProperty(instance, "env", { value: { ...instance.env, DB: real }, configurable: true, writable: true });
    });
  return { open, restore };
}

/** One RPC method of the user's object as a test replaces it: `call` runs the real one. */
export type MethodOverride = (call: (...args: unknown[]) => Promise<unknown>, ...args: unknown[]) => unknown;

/**
 * An env whose `USER_SESSIONS` stubs run `overrides` in place of the named RPC methods (each given
 * the real method to call), and the real ones otherwise: how a test delays or fails one call of the
 * user's object on the Worker's side. Send requests to it with `fetchWith`.
 */
export function envWithUserSessions(overrides: Record<string, MethodOverride>): Env {
  const real = env.USER_SESSIONS;
  const USER_SESSIONS = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = real.get(id) as unknown as Record<string | symbol, unknown>;
      return new Proxy(stub, {
        get(target, prop) {
          if (prop === "then") return undefined;
          const method = (...args: unknown[]) => (target[prop] as (...a: unknown[]) => Promise<unknown>)(...args); // RPC methods only
          const override = typeof prop === "string" ? overrides[prop] : undefined;
          return override ? (...args: unknown[]) => override(method, ...args) : method;
        },
      });
    },
  };
  return { ...env, USER_SESSIONS } as unknown as Env;
}

/**
 * Sign-ins held after their reservation in the account's gate (src/rate-limit/attempt-gate.ts): an env
 * whose `USER_SESSIONS` answers `reserveAttempt` (the real reservation, made) only once `open()` is
 * called, so a sign-in waits between its D1 read and its check or session while the test does
 * something else. `fetch` sends to the Worker with that env; `count()` is how many were reserved.
 */
export function holdReservations() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reserved = 0;
  const heldEnv = envWithUserSessions({
    reserveAttempt: async (call, input) => {
      const outcome = await call(input);
      reserved++;
      await gate;
      return outcome;
    },
  });
  const fetch = (path: string, options?: CallOptions) => fetchWith(heldEnv, path, options);
  return { fetch, open, count: () => reserved };
}

/**
 * A full account's D1-path sign-in held between its D1 batch and its hold (issue 27, slice 7): the
 * account's `endChange` carrying `hold` waits until `open()`; `reached` resolves once it is called
 * (the batch is written). `fetch` sends to the Worker with that env.
 */
export function gatedHold() {
  let open!: () => void;
  let reach!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const gated = envWithUserSessions({
    endChange: async (call, changeId, register) => {
      if ((register as { hold?: unknown } | undefined)?.hold) {
        reach();
        await gate;
      }
      return call(changeId, register);
    },
  });
  return { fetch: (path: string, options?: CallOptions) => fetchWith(gated, path, options), reached, open };
}

/** An env whose user objects end the change but fail to take a held session (`endChange` with `hold` rejects). */
export function unheldEnv(): Env {
  return envWithUserSessions({
    endChange: async (call, changeId, register) => {
      await call(changeId, register && { ...(register as object), hold: undefined });
      if ((register as { hold?: unknown } | undefined)?.hold) throw new Error("object reset (test)");
    },
  });
}
