/**
 * Shared by the slice 6 email-code review's tests (known-code-break*.test.ts): verifying a code, the
 * code's row and the account's count, and holding a sign-in at the account's gate or the user
 * object's outbox batches to land other requests in between.
 *
 * @example
 * const held = holdAfterReserve();
 */
import { expect, vi } from "vitest";
import { call, env, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { holdReservations, userObject } from "../helpers/edge";
import type { CallOptions } from "../helpers/http";
import { requestCode } from "../helpers/email-code";

// A TOTP step's code is accepted once (test/mfa/helpers.ts may wait for the next step); the gate waits up to 8 s.
vi.setConfig({ testTimeout: 120_000 });

export const VERIFY = "/v1/auth/email-code/verify";
export const verify = (email: string, code: string, token?: string) => call(VERIFY, { body: { email, code }, ...(token ? { token } : {}) });
export const wrong = (code: string, i = 0) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, "0");
export const codeRow = (email: string) =>
  env.DB.prepare("SELECT attempts FROM email_codes WHERE email_normalized = ?").bind(email.toLowerCase()).first<{ attempts: number }>();
export const counter = (userId: string) => env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count");
export const liveSessionsInD1 = (userId: string) =>
  env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(userId).first<number>("n");
export const usersWith = (email: string) => env.DB.prepare("SELECT count(*) AS n FROM users WHERE email_normalized = ?").bind(email.toLowerCase()).first<number>("n");
export const settle = (userId: string) => userObject(userId).settle();
export const me = (token: string) => call("/v1/auth/me", { token });

/** Sets the account's failed-login counter to `count` in a window opened now (the state after `count` failures). */
export async function setCounter(userId: string, count: number) {
  await env.DB.prepare("INSERT INTO counters (key, window_start, count) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count")
    .bind(`login:${userId}`, Date.now(), count)
    .run();
}

/** A 2xx/4xx/503 answer with a §5 JSON body: never a 500. */
export async function expectNoInternal(response: Response): Promise<Json> {
  const body = await json(response.clone());
  expect(response.status, JSON.stringify(body)).not.toBe(500);
  expect(body.error).not.toBe("internal");
  return body;
}

/** Code sign-ins held after their reservation in the account's gate (see the module comment). */
export const holdAfterReserve = holdReservations;

/**
 * A verified account signed in once (`first`, its object's owed writes settled) with a code mailed
 * to it (the second mail, after the verification's): where the cases "held at the gate" start.
 */
export async function accountWithCode(label: string) {
  const account = await verifiedAccount(label);
  const first = await login(account);
  await settle(account.userId);
  const code = await requestCode(account.email, 2);
  return { account, first, code };
}

/**
 * Sends a sign-in (a code's verify by default) that is held at the account's gate once reserved, and
 * resolves when it is: `held.open()` lets it on, `signingIn` is its answer.
 */
export async function heldAtGate(options: CallOptions, path = VERIFY) {
  const held = holdAfterReserve();
  const signingIn = held.fetch(path, options);
  await expect.poll(held.count).toBe(1);
  return { held, signingIn };
}

/**
 * The user object's D1 binding with its outbox batches (those inserting a session) held until
 * `open()`, or failing with `fail`; every other statement and batch (its reads) goes through.
 * `restore()` puts the real binding back.
 */
export async function holdObjectWrites(userId: string, fail = false) {
  const { runInDurableObject } = await import("cloudflare:test");
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const real = env.DB;
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  let heldBatches = 0;
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    sqlOf.set(statement, query);
    const s = statement as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bind = s.bind!.bind(statement);
    s.bind = (...args: unknown[]) => wrap(bind(...args) as D1PreparedStatement, query);
    return statement;
  };
  const held = {
    prepare: (query: string) => wrap(real.prepare(query), query),
    batch: async (statements: D1PreparedStatement[]) => {
      if (statements.some((s) => /insert into "sessions"/i.test(sqlOf.get(s) ?? ""))) {
        heldBatches++;
        if (fail) throw new Error("D1_ERROR: unreachable (test)");
        await gate;
      }
      return real.batch(statements);
    },
    exec: (query: string) => real.exec(query),
    dump: () => real.dump(),
    withSession: (...args: Parameters<D1Database["withSession"]>) => real.withSession(...args),
  } as unknown as D1Database;
  const swap = (db: D1Database) =>
    runInDurableObject(userObject(userId), (object: unknown) => {
      const instance = object as { env: Env };
      Object.defineProperty(instance, "env", { value: { ...instance.env, DB: db }, configurable: true, writable: true });
    });
  await swap(held);
  return { open, restore: () => swap(real), heldBatches: () => heldBatches };
}
