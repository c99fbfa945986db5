/**
 * Issue 27: the sessions list from the user's object (src/sessions/session-list.ts). Once a list has
 * read D1 (or a sign-in started in the object did) and nothing changed since, the next list makes no
 * D1 trip; a sign-in started in the object and the object's own revocations keep it complete; an
 * account change (or a revocation written in D1 alone) sends the next one to D1 once, and it shows the change. Sessions the list takes
 * into the object before their first refresh still refresh, rotate, detect reuse and end as before.
 * Over HTTP in workerd with the real D1 and object, D1 counted on both bindings (test/helpers/edge.ts).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-list.test.ts
 */
import { describe, expect, it } from "vitest";
import { advanceUserClock, call, expectError, guest, json, login, refreshWith, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countingD1 } from "../helpers/edge";
import type { FetchAs } from "../helpers/edge";

/** The ids the list shows to `token`'s session, through the counted Worker. */
async function listed(fetchAs: FetchAs, token: string): Promise<string[]> {
  const response = await fetchAs("/v1/auth/sessions", { token });
  expect(response.status).toBe(200);
  return (await json(response)).sessions.map((s: Json) => s.id);
}

describe("the sessions list from the user's object", () => {
  it("makes no D1 trip once complete; a sign-in started in the object and its own revocation keep it complete; an account change costs the next list one read", async () => {
    const account = await verifiedAccount("edge-list");
    const a = await login(account);
    const b = await login(account);
    // Both sign-ins started in the user's object (slice 3), which read D1's live sessions once then: complete.
    const first = await countingD1(account.userId, async (fetchAs) => [await listed(fetchAs, a.accessToken), await listed(fetchAs, b.accessToken)]);
    expect(first.value[0]!.sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect(first.value[1]!.sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect({ worker: first.workerTrips, object: first.objectTrips }).toEqual({ worker: 0, object: 0 });

    const c = await login(account);
    const afterSignIn = await countingD1(account.userId, async (fetchAs) => [await listed(fetchAs, a.accessToken), await listed(fetchAs, a.accessToken)]);
    expect(afterSignIn.value[0]).toContain(c.sessionId);
    expect(afterSignIn.objectTrips).toBe(0);

    expect((await call(`/v1/auth/sessions/${b.sessionId}`, { method: "DELETE", token: a.accessToken })).status).toBe(204);
    const afterRevoke = await countingD1(account.userId, async (fetchAs) => [await listed(fetchAs, a.accessToken), await listed(fetchAs, c.accessToken)]);
    expect(afterRevoke.value[0]).not.toContain(b.sessionId);
    expect(afterRevoke.value[1]).not.toContain(b.sessionId);
    // The object's own revocation keeps the list complete (it forgot the session it ended).
    expect(afterRevoke.objectTrips).toBe(0);
    await expectError(await call("/v1/auth/sessions", { token: b.accessToken }), 401, "invalid_token");
    // An account change (here a username) moves the epoch: the next list reads D1 once, then none.
    expect((await call("/v1/auth/me", { method: "PATCH", token: a.accessToken, body: { username: uniqueUsername("edgel") } })).status).toBe(200);
    const afterChange = await countingD1(account.userId, async (fetchAs) => [await listed(fetchAs, a.accessToken), await listed(fetchAs, c.accessToken)]);
    expect(afterChange.value[0]!.sort()).toEqual([a.sessionId, c.sessionId].sort());
    expect(afterChange.objectTrips).toBe(1);
  });

  it("omits at once a session a sign-in's batch evicted in D1 alone (the 6th-session rule)", async () => {
    const account = await verifiedAccount("edge-list-limit");
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await login(account));
    const newest = sessions[4]!;
    expect((await json(await call("/v1/auth/sessions", { token: newest.accessToken }))).sessions).toHaveLength(5);
    const sixth = await login(account);
    const ids = (await json(await call("/v1/auth/sessions", { token: sixth.accessToken }))).sessions.map((s: Json) => s.id);
    expect(ids).toHaveLength(5);
    expect(ids).not.toContain(sessions[0]!.sessionId);
    await expectError(await refreshWith(sessions[0]!.refreshToken), 401, "invalid_token");
  });

  it("a session the list took in before its first refresh refreshes, rotates, detects reuse, and ends by its token", async () => {
    const account = await verifiedAccount("edge-list-adopt");
    const a = await login(account);
    const b = await login(account);
    await listed((path, options) => call(path, options), a.accessToken);
    // b was never refreshed: the list took it into the object with its first token's hash.
    const rotated = await json(await refreshWith(b.refreshToken));
    expect(rotated.sessionId).toBe(b.sessionId);
    expect(rotated.refreshToken).not.toBe(b.refreshToken);
    await advanceUserClock(account.userId, 11_000);
    await expectError(await refreshWith(b.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(rotated.refreshToken), 401, "invalid_token");
    // a, also taken in, ends by its first token (sign-out by refresh token), everywhere.
    expect((await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } })).status).toBe(204);
    await expectError(await call("/v1/auth/me", { token: a.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(a.refreshToken), 401, "invalid_token");
  });

  it("a guest's session taken in by the list keeps working: refreshes, then is vouched with no D1 trip", async () => {
    const g = await guest();
    const first = await countingD1(g.user.id, async (fetchAs) => listed(fetchAs, g.accessToken));
    expect(first.value).toEqual([g.sessionId]);
    const next = await json(await refreshWith(g.refreshToken));
    const then = await json(await refreshWith(next.refreshToken));
    const warm = await countingD1(g.user.id, async (fetchAs) => {
      const response = await fetchAs("/v1/auth/refresh", { body: { refreshToken: then.refreshToken } });
      expect(response.status).toBe(200);
      return listed(fetchAs, (await json(response)).accessToken);
    });
    expect(warm.value).toEqual([g.sessionId]);
    expect({ worker: warm.workerTrips, object: warm.objectTrips }).toEqual({ worker: 0, object: 0 });
  });
});
