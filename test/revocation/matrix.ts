/**
 * The revocation matrix (issue 27 item 3; docs/edge-sessions.md, "The guard: test/revocation/"):
 * the parts every table of this folder shares. A way a session ends is a row (`Way`): it sets up
 * an account with sessions held as a client holds them (`Held`), ends some of them over HTTP, and
 * says which ended and which one survived. `runWay` then checks, with one function for every way
 * (`expectEnded`), that **the very next** request of each kind refuses the ended sessions:
 *
 * - `GET /v1/auth/me`, `GET /v1/auth/sessions` and `GET /v1/auth/activity` with the ended access
 *   token: 401 `invalid_token` with `WWW-Authenticate: Bearer error="invalid_token"` (API.md §1, §5);
 * - its refresh token (and the one it rotated away, still inside the reuse window) at all three
 *   refresh doors (`/v1/auth/refresh`, document 000's `/auth/refresh`, document 001's
 *   `/auth/refresh-token`): 401 `invalid_token`;
 * - `AuthRpc.verifySession`, called through the Worker's real `AuthRpc` entrypoint
 *   (`exports.AuthRpc`, as a service binding would): `null` (API.md §14);
 * - the survivor's sessions list (both doors) and the admin user view omit the ended sessions,
 *   and the survivor itself still works.
 *
 * Before the way runs, the same checks show every session live (and a rotated token's reuse window
 * open), so each refusal afterwards is the way's doing. Only HTTP and RPC are used, never storage:
 * these tests guard the move of sessions into the user's Durable Object, whatever it stores.
 *
 * Each way runs for both states of the ended session (`STATES`): never refreshed (today: only its
 * D1 row knows its first token), and refreshed once (its token state is in the user's object, and its
 * previous token is inside the reuse window, where a sealed successor pair waits). The first is
 * checked lists first, the second refresh first (`Order`), so either kind of request may be the
 * first one after the end.
 *
 * @example
 * const ways: Way[] = [{ name: "revoke", end: async (ctx) => {
 *   const { a, b } = pairOf(ctx);
 *   expect((await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } })).status).toBe(204);
 *   return { ended: [a], survivor: b };
 * } }];
 * describe.each(STATES)("ended while %s", (state) => { for (const way of ways) it(way.name, () => runWay(way, state)); });
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { adminCall, call, expectError, json, login, mailbox, refreshWith, verifiedAccount } from "../helpers";
import type { Account, Json } from "../helpers";

/** A session as its client holds it. */
export interface Held {
  userId: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** The refresh token the last rotation replaced (inside the reuse window), when it was refreshed. */
  previousRefreshToken?: string;
}

/** The two states a session can be ended in (see the module comment). */
export const STATES = ["never refreshed", "refreshed"] as const;
export type State = (typeof STATES)[number];

/** What a way starts from: an account (none for a guest's) and its sessions, oldest first (`a` is the oldest). */
export interface Ctx {
  account?: Account;
  state: State;
  a: Held;
  /** A second session of the same account (every default set-up has one). */
  b?: Held;
  /** Any further sessions the way asked for, after `a` and `b`. */
  more: Held[];
}

/** What a way ended, and the session that survived it (when one does). */
export interface Outcome {
  ended: Held[];
  survivor?: Held;
}

/** One way a session ends: a row of the matrix. */
export interface Way {
  name: string;
  /** Builds the starting point instead of `sessionsOf` (a verified account with `a` and `b`). */
  setup?: (state: State) => Promise<Ctx>;
  /** Ends sessions over HTTP, asserting the answer the contract gives; says what ended. */
  end: (ctx: Ctx) => Promise<Outcome>;
}

/** The default set-up's account and its two sessions (`a`, then `b`). */
export function pairOf(ctx: Ctx): { account: Account; a: Held; b: Held } {
  if (!ctx.account || !ctx.b) throw new Error("this way needs an account with two sessions");
  return { account: ctx.account, a: ctx.a, b: ctx.b };
}

/** A TokenPair (API.md §3) as the client keeps it. */
export function held(pair: Json, previousRefreshToken?: string): Held {
  return {
    userId: pair.user.id,
    sessionId: pair.sessionId,
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    ...(previousRefreshToken ? { previousRefreshToken } : {}),
  };
}

/** Rotates the session once: the new pair, remembering the token it replaced. */
export async function rotate(session: Held): Promise<Held> {
  const response = await refreshWith(session.refreshToken);
  expect(response.status).toBe(200);
  const pair = await json(response);
  expect(pair.sessionId).toBe(session.sessionId);
  return held(pair, session.refreshToken);
}

/** Brings a freshly issued session into `state`. */
export async function inState(session: Held, state: State): Promise<Held> {
  return state === "refreshed" ? rotate(session) : session;
}

/**
 * The default starting point: a verified account signed in `count` (≥ 2) times, oldest first, each
 * session then brought into `state` (after all sign-ins, so each reuse window is as fresh as can be).
 */
export async function sessionsOf(state: State, count = 2, label = "rv"): Promise<Ctx> {
  const account = await verifiedAccount(label);
  const issued: Held[] = [];
  for (let i = 0; i < count; i++) issued.push(held(await login(account)));
  const [a, b, ...more] = await Promise.all(issued.map((s) => inState(s, state)));
  return { account, state, a: a!, b: b!, more };
}

/** The first match of `pattern` in a mail to `to`, waiting for it up to 5 s (mail is sent after the answer). */
export async function fromMail(to: string, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = (await mailbox(to)).map((m) => pattern.exec(m.text)?.[1]).find(Boolean);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matches ${pattern}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `AuthRpc.verifySession` through the Worker's real entrypoint (a loopback service binding). */
export function verifySession(accessToken: string): Promise<Json> {
  const rpc = (exports as unknown as { AuthRpc: { verifySession(token: string): Promise<Json> } }).AuthRpc;
  return rpc.verifySession(accessToken);
}

/** The ids a session's list shows, through both doors (API.md §3 and document 001's §4). */
async function listedIds(session: Held): Promise<string[]> {
  const v1 = await call("/v1/auth/sessions", { token: session.accessToken });
  expect(v1.status).toBe(200);
  const { sessions } = await json(v1);
  const doc001 = await call(`/auth/${session.userId}/sessions`, { token: session.accessToken });
  expect(doc001.status).toBe(200);
  const envelope = await json(doc001);
  expect(envelope.data.map((s: Json) => s.id).sort()).toEqual(sessions.map((s: Json) => s.id).sort());
  expect(sessions.find((s: Json) => s.current)?.id).toBe(session.sessionId);
  return sessions.map((s: Json) => s.id);
}

/** The live sessions the admin user view (API.md §10) lists; null when the user is gone (404). */
async function adminListed(userId: string): Promise<string[] | null> {
  const response = await adminCall(`/users/${userId}`);
  if (response.status === 404) return null;
  expect(response.status).toBe(200);
  return (await json(response)).sessions.map((s: Json) => s.id);
}

/** Every check passes for a live session: the baseline a way starts from. */
export async function expectLive(sessions: Held[]): Promise<void> {
  for (const session of sessions) {
    expect((await call("/v1/auth/me", { token: session.accessToken })).status, "me").toBe(200);
    expect(await verifySession(session.accessToken), "verifySession").toMatchObject({ userId: session.userId, sessionId: session.sessionId });
    expect(await listedIds(session)).toEqual(expect.arrayContaining(sessions.map((s) => s.sessionId)));
    // The rotated token is inside the reuse window: it gets the current pair, changing nothing.
    if (session.previousRefreshToken) {
      const repeat = await refreshWith(session.previousRefreshToken);
      expect(repeat.status, "previous token inside the reuse window").toBe(200);
      expect((await json(repeat)).refreshToken).toBe(session.refreshToken);
    }
  }
  expect(await adminListed(sessions[0]!.userId)).toEqual(expect.arrayContaining(sessions.map((s) => s.sessionId)));
}

/** A 401 `invalid_token` as API.md §5 spells it, with its `WWW-Authenticate` challenge. */
async function expectInvalidToken(response: Response, what: string): Promise<void> {
  const challenge = response.headers.get("www-authenticate");
  await expectError(response, 401, "invalid_token").catch((error: Error) => {
    throw new Error(`${what}: ${error.message}`);
  });
  expect(challenge, what).toBe('Bearer error="invalid_token"');
}

/** Every refresh door refuses the session's refresh tokens: the current one and the one it replaced. */
async function expectRefreshRefused(session: Held, name: string): Promise<void> {
  const tokens = [session.refreshToken, ...(session.previousRefreshToken ? [session.previousRefreshToken] : [])];
  for (const [i, refreshToken] of tokens.entries()) {
    const which = `${name}: ${i === 0 ? "current" : "previous"} refresh token`;
    await expectInvalidToken(await refreshWith(refreshToken), `${which} at /v1/auth/refresh`);
    const doc000 = await call("/auth/refresh", { body: { access_token: session.accessToken, refresh_token: refreshToken } });
    await expectInvalidToken(doc000, `${which} at /auth/refresh`);
    await expectInvalidToken(await call("/auth/refresh-token", { body: { refreshToken } }), `${which} at /auth/refresh-token`);
  }
}

/** Every liveness check refuses the session's access token: the service's own reads and AuthRpc. */
async function expectReadsRefused(session: Held, name: string): Promise<void> {
  await expectInvalidToken(await call("/v1/auth/me", { token: session.accessToken }), `${name}: GET /v1/auth/me`);
  expect(await verifySession(session.accessToken), `${name}: AuthRpc.verifySession`).toBeNull();
  await expectInvalidToken(await call("/v1/auth/sessions", { token: session.accessToken }), `${name}: GET /v1/auth/sessions`);
  await expectInvalidToken(await call("/v1/auth/activity", { token: session.accessToken }), `${name}: GET /v1/auth/activity`);
}

/** The survivor still works, and neither its lists nor the admin user view show what ended. */
async function expectOmitted(outcome: Outcome): Promise<void> {
  const endedIds = outcome.ended.map((s) => s.sessionId);
  const { survivor } = outcome;
  if (survivor) {
    const listed = await listedIds(survivor);
    for (const id of endedIds) expect(listed, "the survivor's sessions list").not.toContain(id);
    expect((await call("/v1/auth/me", { token: survivor.accessToken })).status, "the survivor's me").toBe(200);
    expect(await verifySession(survivor.accessToken), "the survivor's verifySession").toMatchObject({ sessionId: survivor.sessionId });
  }
  const admin = await adminListed(outcome.ended[0]!.userId);
  if (admin !== null) for (const id of endedIds) expect(admin, "the admin user view's sessions").not.toContain(id);
  if (survivor && admin !== null && survivor.userId === outcome.ended[0]!.userId) expect(admin).toContain(survivor.sessionId);
}

/**
 * Which request comes first after the end: `lists first` (the survivor's list, then each ended
 * session's `me`, `verifySession`, lists, then its refresh tokens) or `refresh first` (each ended
 * session's refresh tokens, then its reads, then the survivor's list). Either must see the end.
 */
export type Order = "lists first" | "refresh first";

/**
 * The one checker of the matrix: every ended session is refused by every liveness check and every
 * refresh door, at once; the survivor (if any) still works and no longer lists them.
 */
export async function expectEnded(outcome: Outcome, order: Order = "lists first"): Promise<void> {
  if (order === "lists first") await expectOmitted(outcome);
  for (const session of outcome.ended) {
    const name = `session ${session.sessionId.slice(0, 8)}`;
    if (order === "refresh first") await expectRefreshRefused(session, name);
    await expectReadsRefused(session, name);
    if (order === "lists first") await expectRefreshRefused(session, name);
  }
  if (order === "refresh first") await expectOmitted(outcome);
}

/**
 * Runs one row of the matrix: set up, check every session live, end, check the ends. A session
 * never refreshed is checked lists first, a refreshed one refresh first, so both orders run.
 */
export async function runWay(way: Way, state: State): Promise<void> {
  const ctx = await (way.setup ? way.setup(state) : sessionsOf(state));
  await expectLive([ctx.a, ...(ctx.b ? [ctx.b] : []), ...ctx.more]);
  const outcome = await way.end(ctx);
  expect(outcome.ended.length).toBeGreaterThan(0);
  await expectEnded(outcome, state === "never refreshed" ? "lists first" : "refresh first");
}
