/**
 * Accounts, sessions and mail as a client sees them: the dev outbox, verified accounts, logins,
 * guests, and the real per-user object: its storage, and its clock for ageing sessions.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { PASSWORD, call, freshIp, json, uniqueEmail, uniqueUsername } from "./http";
import { sha256 } from "../../src/crypto";
import type { Json } from "./http";
import type { UserSessions } from "../../src/sessions/user-object";
import { loadConfig } from "../../src/config";
import type { Deps } from "../../src/http/deps";

export interface Mail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  createdAt: string;
}

/** Reads the dev outbox, waiting up to `timeoutMs` for at least `count` messages (mail is sent after the answer). */
export async function mailbox(to: string, count = 1, timeoutMs = 5000): Promise<Mail[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await call(`/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await json(response)) as { messages: Mail[] };
    if (messages.length >= count || Date.now() > deadline) return messages;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The token of the newest mailed link to `path` (e.g. "/verify-email"). */
export async function mailedToken(to: string, path: string, count = 1): Promise<string> {
  const messages = await mailbox(to, count);
  const message = messages.find((m) => m.text.includes(path));
  const link = message?.text.match(/https?:\/\/\S+/g)?.find((l) => l.includes(path));
  if (!link) throw new Error(`no ${path} link mailed to ${to}`);
  return new URL(link).searchParams.get("token")!;
}

export interface Account {
  email: string;
  username: string;
  password: string;
  userId: string;
}

/** Registers and verifies an account through the API and the outbox. */
export async function verifiedAccount(label = "user"): Promise<Account> {
  const email = uniqueEmail(label);
  const username = uniqueUsername(label);
  const registered = await call("/v1/auth/register", { body: { email, username, password: PASSWORD } });
  expect(registered.status).toBe(201);
  const { user } = await json(registered);
  const token = await mailedToken(email, "/verify-email");
  const verified = await call("/v1/auth/verify-email", { body: { token } });
  expect(verified.status).toBe(200);
  return { email, username, password: PASSWORD, userId: user.id };
}

export async function login(account: Pick<Account, "email" | "password">, ip?: string): Promise<Json> {
  const response = await call("/v1/auth/login", { body: { email: account.email, password: account.password }, ...(ip ? { ip } : {}) });
  expect(response.status).toBe(200);
  return json(response);
}

export async function guest(ip?: string): Promise<Json> {
  const response = await call("/v1/auth/guest", { method: "POST", ...(ip ? { ip } : {}) });
  expect(response.status).toBe(200);
  return json(response);
}

/**
 * Gives a signed-in session the layout every sign-in wrote before issue 27's slices 7 and 8, for the
 * adoption and upgrade tests: the session is a D1 row holding its first token's hash, its client
 * (`ip`; no user agent) and its true expiry, and the user's object stores nothing and runs no
 * instance (its storage is deleted, which drops every session it held, and the instance evicted).
 * Use it on a user's first session, or on one whose object holds no other. Returns `pair` as it is.
 */
export async function toLegacyLayout(pair: Json, ip: string, expiresAt: number | null = pair.user.isGuest ? null : Date.now() + pair.refreshExpiresIn * 1000): Promise<Json> {
  const { runInDurableObject, evictDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(pair.user.id));
  await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => state.storage.deleteAll());
  await evictDurableObject(stub);
  // The layout before slice 9 kept every row's last use too (D1's copy: its start).
  await env.DB.prepare("UPDATE sessions SET first_refresh_token_hash = ?, ip_address = ?, expires_at = ?, last_used_at = created_at WHERE user_id = ? AND id = ?")
    .bind(await sha256(pair.refreshToken), ip, expiresAt, pair.user.id, pair.sessionId)
    .run();
  return pair;
}

/** A guest as a sign-up wrote it before issue 27's slice 8 (`toLegacyLayout`). Same shape as `guest()`. */
export async function legacyGuest(ip?: string): Promise<Json> {
  const address = ip ?? freshIp();
  return toLegacyLayout(await guest(address), address);
}

/** The payload of a JWT, unverified (tests read what the service issued). */
export function claims(token: string): Json {
  const part = token.split(".")[1]!;
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

/** Runs `fn` against the storage of a user's real UserSessions object (reading its state; age it with advanceUserClock). */
export async function inUserSessions<T>(userId: string, fn: (sql: SqlStorage) => T): Promise<T> {
  const { runInDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
  return runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => fn(state.storage.sql));
}

/**
 * Moves the clock of a user's real UserSessions object `ms` forward (its token state, expiry and the
 * session rows it writes): how tests age a session, instead of editing the object's rows.
 */
export async function advanceUserClock(userId: string, ms: number): Promise<void> {
  const { runInDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
  await runInDurableObject(stub, (instance: UserSessions) => {
    const previous = instance.clock.now.bind(instance.clock);
    instance.clock.now = () => previous() + ms;
  });
}

export async function refreshWith(refreshToken: string, ip?: string): Promise<Response> {
  return call("/v1/auth/refresh", { body: { refreshToken }, ...(ip ? { ip } : {}) });
}

/** What a service function receives, built on the test's real bindings (for calling services directly). */
export function serviceDeps(): Deps {
  return {
    env,
    config: loadConfig(env),
    client: { ipAddress: null, userAgent: null },
    requestId: "test",
    origin: "http://localhost",
    waitUntil: () => undefined,
  };
}
