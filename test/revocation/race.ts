/**
 * The races of the revocation guard (issue 27 item 3; docs/edge-sessions.md, "The guard:
 * test/revocation/"): what `races.test.ts` sends together with an end, and how it reads the
 * answers. A racer is a request that may land before or after the end (a refresh at any of the
 * three doors, a password sign-in); it answers either a pair, which must then be dead once the end
 * has answered, or the refusal the contract gives. Rounds run `ROUNDS` times, `PARALLEL` at once, each
 * staggered (`staggerOf`), so the end and the racers interleave differently each time; the matrix's checker (`expectEnded`,
 * ./matrix.ts) then shows that the very next `me`, refresh, `AuthRpc.verifySession` and sessions
 * list refuse or omit every session of the race that had to end.
 *
 * @example
 * await rounds(async (i) => {
 *   const ctx = await sessionsOf(stateOf(i), 2, "race");
 *   const wait = staggerOf(i, [0, -2, -1, 1, 2]);
 *   const [, ...won] = await Promise.all([after(wait.end, () => end(ctx)), after(wait.racers, () => raceRefresh(ctx.a, "v1")), after(wait.racers, () => raceRefresh(ctx.a, "001"))]);
 *   await expectEnded({ ended: [ctx.a, ...onePair(won)] }, orderOf(i));
 * });
 */
import { expect } from "vitest";
import { call, claims, env, expectError, json } from "../helpers";
import type { Account } from "../helpers";
import { STATES, held, verifySession } from "./matrix";
import type { Held, Order, State } from "./matrix";

/** How many times each race runs. */
export const ROUNDS = 20;
/** How many rounds run at once (each on its own account): more interleavings, shorter runs. */
export const PARALLEL = 4;
/** Per test: ROUNDS rounds of set-up (PBKDF2 at 100,000 iterations), race and checks. */
export const RACE_TIMEOUT_MS = 300_000;

/** Runs `round(i)` for i = 0 … ROUNDS - 1, PARALLEL at a time. */
export async function rounds(round: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < ROUNDS; start += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, ROUNDS - start) }, (_, k) => round(start + k));
    await Promise.all(batch);
  }
}

/** Round i's session state: never refreshed and refreshed alternate. */
export const stateOf = (i: number): State => STATES[i % 2]!;

/** Round i's check order: each state is checked lists first in some rounds and refresh first in others. */
export const orderOf = (i: number): Order => (Math.floor(i / 2) % 2 === 0 ? "lists first" : "refresh first");

/**
 * Round i's stagger, in D1 round trips: 0 for rounds 0-3, then each of `offsets` in turn for the
 * next four rounds (which cover both states and both check orders). A positive offset sends the end
 * that many round trips after the racers, a negative one the racers after the end, so the end lands
 * before, between and after the racers' own steps and the other way round. Round trips, not
 * milliseconds: in workerd a timer of even 1 ms fires only once the other side's whole chain of I/O
 * has settled, while a D1 round trip is the very unit those chains are made of.
 */
export function staggerOf(i: number, offsets: readonly number[]): { end: number; racers: number } {
  const offset = offsets[Math.floor(i / 4) % offsets.length]!;
  return { end: Math.max(0, offset), racers: Math.max(0, -offset) };
}

/** `send()` after `steps` round trips to D1 (a `SELECT 1` each; at once for 0). */
export async function after<T>(steps: number, send: () => Promise<T>): Promise<T> {
  for (let k = 0; k < steps; k++) await env.DB.prepare("SELECT 1").first();
  return send();
}

/** The refresh doors: API.md §3's, document 001's and document 000's (with the access token). */
export type Door = "v1" | "001" | "000";

/**
 * One refresh of `session` at `door`, sent in a race: the session's next pair as a client would hold
 * it (200, the same session), or null after 401 `invalid_token`. Anything else fails the test.
 */
export async function raceRefresh(session: Held, door: Door): Promise<Held | null> {
  const response =
    door === "v1"
      ? await call("/v1/auth/refresh", { body: { refreshToken: session.refreshToken } })
      : door === "001"
        ? await call("/auth/refresh-token", { body: { refreshToken: session.refreshToken } })
        : await call("/auth/refresh", { body: { access_token: session.accessToken, refresh_token: session.refreshToken } });
  if (response.status !== 200) {
    await expectError(response, 401, "invalid_token");
    return null;
  }
  const body = await json(response);
  if (door === "v1") return held(body, session.refreshToken);
  const pair = door === "001" ? body.data : { accessToken: body.access_token, refreshToken: body.refresh_token };
  const sessionId = door === "001" ? pair.sessionId : claims(pair.accessToken).sid;
  expect(sessionId, `the ${door} door's pair is the same session`).toBe(session.sessionId);
  return { userId: session.userId, sessionId, accessToken: pair.accessToken, refreshToken: pair.refreshToken, previousRefreshToken: session.refreshToken };
}

/**
 * A password sign-in sent in a race: the new session (200), or null when the account was refused
 * (403 `account_disabled`, or 401 `invalid_credentials` once it is gone). Anything else fails.
 */
export async function raceLogin(account: Account, refusal: { status: number; error: string }): Promise<Held | null> {
  const response = await call("/v1/auth/login", { body: { email: account.email, password: account.password } });
  if (response.status !== 200) {
    await expectError(response, refusal.status, refusal.error);
    return null;
  }
  return held(await json(response));
}

/**
 * The reads a client makes while the end is in flight: `me` answers 200 or 401 `invalid_token`,
 * `AuthRpc.verifySession` the session or null, never an error (API.md §5, §14).
 */
export async function readsDuringRace(session: Held): Promise<void> {
  const [me, verified] = await Promise.all([call("/v1/auth/me", { token: session.accessToken }), verifySession(session.accessToken)]);
  if (me.status !== 200) await expectError(me, 401, "invalid_token");
  if (verified !== null) expect(verified).toMatchObject({ sessionId: session.sessionId, userId: session.userId });
}

/**
 * The pairs the racing refreshes of one session got: every racer that won got the same pair (one
 * rotation; the others repeat it inside the reuse window), so at most one new pair exists. Returns it
 * (as an array of zero or one) for the ended list.
 */
export function onePair(pairs: (Held | null)[]): Held[] {
  const won = pairs.filter((p): p is Held => p !== null);
  const distinct = new Set(won.map((p) => p.refreshToken));
  expect(distinct.size, "new refresh tokens issued for the raced session").toBeLessThanOrEqual(1);
  const access = new Set(won.map((p) => p.accessToken));
  expect(access.size, "new access tokens issued for the raced session").toBeLessThanOrEqual(1);
  return won.slice(0, 1);
}

/** Both sessions answer `me` (200) before the race, so every refusal after it is the race's doing. */
export async function expectBothLive(sessions: Held[]): Promise<void> {
  for (const s of sessions) expect((await call("/v1/auth/me", { token: s.accessToken })).status, "live before the race").toBe(200);
}
