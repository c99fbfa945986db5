/**
 * Sessions start without the user's object (src/sessions/issue.ts) and are adopted by it on the
 * first call that names them (src/sessions/user-object.ts `#adopt`). Over HTTP in workerd, with the
 * real D1 and object: a sign-in creates no object storage; the first rotation adopts once; a forged
 * token for a real session adopts nothing; revocations reach sessions not adopted yet; and the
 * limit's evictions record their events with proper ids.
 */
import { describe, expect, it } from "vitest";
import { makeRefreshToken } from "../../src/sessions/refresh-token";
import { activityOf } from "../helpers/activity";
import {
  advanceUserClock, call, env, expectError, json, legacyGuest, login, objectStorage, refreshWith, verifiedAccount,
} from "../helpers";

const firstHashOf = (sessionId: string) =>
  env.DB.prepare("SELECT first_refresh_token_hash AS h FROM sessions WHERE id = ?").bind(sessionId).first<string | null>("h");

describe("a session before its first rotation", () => {
  it("is a D1 row only: the sign-in creates no object storage, and the row holds its first token's hash", async () => {
    const g = await legacyGuest();
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
    expect(await firstHashOf(g.sessionId)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await call("/v1/auth/me", { token: g.accessToken })).status).toBe(200);
  });

  it("is adopted once at its first rotation: the row's hash is cleared and the object holds the token", async () => {
    const g = await legacyGuest();
    const next = await json(await refreshWith(g.refreshToken));
    expect(next.refreshToken).not.toBe(g.refreshToken);
    expect(await firstHashOf(g.sessionId)).toBeNull();
    expect((await objectStorage(g.user.id)).rows).toBeGreaterThan(0);
    // Inside the reuse window the first token gets the same pair; after it, reuse ends the session.
    expect((await json(await refreshWith(g.refreshToken))).refreshToken).toBe(next.refreshToken);
    await advanceUserClock(g.user.id, 11_000);
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(next.refreshToken), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: next.accessToken }), 401, "invalid_token");
  });

  it("gives concurrent first presentations of its token one successor", async () => {
    const g = await legacyGuest();
    const answers = await Promise.all(Array.from({ length: 6 }, async () => json(await refreshWith(g.refreshToken))));
    expect(new Set(answers.map((a) => a.refreshToken)).size).toBe(1);
  });

  it("adopts nothing for a made-up token that names a real session (right user and session ids, wrong secret)", async () => {
    const g = await legacyGuest();
    const forged = makeRefreshToken(g.user.id, g.sessionId);
    await expectError(await refreshWith(forged), 401, "invalid_token");
    expect(await objectStorage(g.user.id)).toEqual({ tables: [], rows: 0 });
    expect(await firstHashOf(g.sessionId)).not.toBeNull();
    expect((await refreshWith(g.refreshToken)).status).toBe(200);
  });

  it("is ended by revoke-all and by a token revocation, and is never adopted afterwards", async () => {
    const account = await verifiedAccount("adopt-revoke");
    const [a, b, c] = [await login(account), await login(account), await login(account)];
    expect((await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } })).status).toBe(204);
    await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
    expect((await call("/v1/auth/revoke-all", { method: "POST", token: b.accessToken })).status).toBe(204);
    for (const pair of [b, c]) {
      await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
      await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    }
  });

  it("is ended by the session limit, whose eviction records a session_revoked event with a UUID", async () => {
    const account = await verifiedAccount("adopt-limit");
    const pairs = [];
    for (let i = 0; i < 6; i++) pairs.push(await login(account));
    await expectError(await refreshWith(pairs[0].refreshToken), 401, "invalid_token");
    const events = { results: await activityOf(account.userId, "session_revoked") };
    expect(events.results).toHaveLength(1);
    expect(events.results[0]!.session_id).toBe(pairs[0].sessionId);
    expect(events.results[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const pair of pairs.slice(1)) expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });
});
