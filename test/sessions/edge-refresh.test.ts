/**
 * Issue 27, slice 2: a refresh the user's object vouches for makes no D1 trip (src/sessions/vouch.ts),
 * the vouching survives a restart of the object (durable marks and change ledger), D1's session row is
 * written only when its expiry must move, and the sessions list shows the object's last use. Over
 * HTTP in workerd, with the real D1 and object; D1 is counted on the Worker's and the object's binding
 * (test/helpers/edge.ts). The revocation matrix (test/revocation/) shows every ending still refuses
 * the next refresh at once.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/edge-refresh.test.ts
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, schemaVersion } from "../../src/db/object-migrations";
import { TOKEN_STORE_MIGRATIONS } from "../../src/sessions/token-store";
import { sha256 } from "../../src/crypto";
import { advanceUserClock, call, json, login, refreshWith, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countingD1, userObject } from "../helpers/edge";

const DAY = 86_400_000;

/** The D1 row of a session: its start, expiry, last use and client as D1 holds them. */
const d1Row = (sessionId: string) =>
  env.DB.prepare("SELECT created_at, expires_at, last_used_at, user_agent, first_refresh_token_hash FROM sessions WHERE id = ?")
    .bind(sessionId)
    .first<{ created_at: number; expires_at: number | null; last_used_at: number | null; user_agent: string | null; first_refresh_token_hash: string | null }>();

/** A signed-in account whose session the object has adopted (one refresh made): the latest pair. */
async function adoptedSession(label: string) {
  const account = await verifiedAccount(label);
  const first = await login(account);
  const response = await refreshWith(first.refreshToken);
  expect(response.status).toBe(200);
  return { account, pair: (await json(response)) as Json };
}

/** Refreshes `pair` through the counted Worker: the next pair. */
async function rotate(fetchAs: (path: string, options?: object) => Promise<Response>, pair: Json, userAgent = "test-agent"): Promise<Json> {
  const response = await fetchAs("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken }, headers: { "user-agent": userAgent } });
  expect(response.status).toBe(200);
  return json(response);
}

describe("a refresh the object vouches for", () => {
  it("makes no D1 trip in the Worker or in the object, and neither does the me after it; a change costs one read", async () => {
    const { account, pair } = await adoptedSession("edge-refresh");
    const warm = await countingD1(account.userId, async (fetchAs) => {
      let latest = pair;
      for (let i = 0; i < 3; i++) latest = await rotate(fetchAs, latest);
      const me = await fetchAs("/v1/auth/me", { token: latest.accessToken });
      return { latest, me: me.status };
    });
    expect(warm.value.me).toBe(200);
    expect({ worker: warm.workerTrips, object: warm.objectTrips }).toEqual({ worker: 0, object: 0 });

    // The counter can fail: a change of a shown field moves the epoch, so the next refresh reads D1
    // once (and shows the change), and the one after is vouched again.
    const username = uniqueUsername("edger");
    expect((await call("/v1/auth/me", { method: "PATCH", token: warm.value.latest.accessToken, body: { username } })).status).toBe(200);
    const after = await countingD1(account.userId, async (fetchAs) => {
      const once = await rotate(fetchAs, warm.value.latest);
      return { once, twice: await rotate(fetchAs, once) };
    });
    expect(after.value.once.user.username).toBe(username);
    expect(after.value.twice.user.username).toBe(username);
    expect({ worker: after.workerTrips, object: after.objectTrips }).toEqual({ worker: 0, object: 1 });
  });

  it("is still vouched after the object restarts: refresh and me make no D1 trip", async () => {
    const { account, pair } = await adoptedSession("edge-restart");
    await evictDurableObject(userObject(account.userId));
    const run = await countingD1(account.userId, async (fetchAs) => {
      const next = await rotate(fetchAs, pair);
      return (await fetchAs("/v1/auth/me", { token: next.accessToken })).status;
    });
    expect(run.value).toBe(200);
    expect({ worker: run.workerTrips, object: run.objectTrips }).toEqual({ worker: 0, object: 0 });
  });

  it("is not vouched while a change begun before a restart is pending: the refresh reads D1 and sees the write", async () => {
    const { account, pair } = await adoptedSession("edge-pending");
    const stub = userObject(account.userId);
    // A writer began its change, then the object restarted before the writer's D1 write.
    await stub.beginChange();
    await evictDurableObject(stub);
    // A refresh in between reads D1 (the old name) and must not be kept as vouched...
    const between = await json(await refreshWith(pair.refreshToken));
    expect(between.user.username).toBe(account.username);
    // ...so after the writer's D1 write (its Worker then dies: no endChange), the next refresh shows it.
    const username = uniqueUsername("edgep");
    await env.DB.prepare("UPDATE users SET username = ?, username_normalized = ? WHERE id = ?").bind(username, username.toLowerCase(), account.userId).run();
    const next = await json(await refreshWith(between.refreshToken));
    expect(next.user.username).toBe(username);
    expect((await json(await call("/v1/auth/me", { token: next.accessToken }))).user.username).toBe(username);
  });
});

describe("D1's session row", () => {
  it("is written only when its expiry must move; the sessions list shows the object's last use and client", async () => {
    const { account, pair } = await adoptedSession("edge-d1row");
    const adopted = await d1Row(pair.sessionId);
    // Adoption wrote D1 an expiry later than the token's own by the slack (half its lifetime).
    expect(adopted!.first_refresh_token_hash).toBeNull();
    const trueExpiry = Date.now() + pair.refreshExpiresIn * 1000;
    expect(adopted!.expires_at! - trueExpiry).toBeGreaterThan(14 * DAY);

    const quiet = await countingD1(account.userId, async (fetchAs) => rotate(fetchAs, pair, "quiet-agent/1"));
    expect(quiet.objectTrips).toBe(0);
    expect(await d1Row(pair.sessionId)).toEqual(adopted);
    const listed = await json(await call("/v1/auth/sessions", { token: quiet.value.accessToken }));
    const current = listed.sessions.find((s: Json) => s.current);
    expect(current.userAgent).toBe("quiet-agent/1");
    // D1 keeps no last use of a session the object holds from its start (slice 9): the object's is shown.
    expect(adopted!.last_used_at).toBeNull();
    expect(Date.parse(current.lastUsedAt)).toBeGreaterThan(adopted!.created_at);
    expect(Date.parse(current.expiresAt)).toBeLessThan(adopted!.expires_at!);

    // Sixteen days on (the object's clock), the token's new expiry passes D1's: one write moves it.
    await advanceUserClock(account.userId, 16 * DAY);
    const moved = await countingD1(account.userId, async (fetchAs) => rotate(fetchAs, quiet.value, "moved-agent/2"));
    expect(moved.objectTrips).toBe(1);
    const written = await d1Row(pair.sessionId);
    expect(written!.expires_at!).toBeGreaterThan(adopted!.expires_at!);
    // The object is of record for the client (slice 7): D1's row keeps none.
    expect(written!.user_agent).toBeNull();
  });
});

describe("a session the object holds past its own expiry, while D1 still counts it live", () => {
  it("is left out of the sessions list and holds no slot under the 6th-session rule", async () => {
    const account = await verifiedAccount("edge-limit");
    const first = await login(account);
    let kept = await json(await refreshWith(first.refreshToken));
    const idle = await json(await refreshWith((await login(account)).refreshToken));
    // The idle session's own expiry (30 days) passes; the kept one is refreshed meanwhile. D1's
    // expiry of the idle one is 15 days later still (the object's clock moves, D1 is read at real time).
    await advanceUserClock(account.userId, 20 * DAY);
    kept = await json(await refreshWith(kept.refreshToken));
    await advanceUserClock(account.userId, 15 * DAY);
    kept = await json(await refreshWith(kept.refreshToken));
    expect(kept.sessionId).toBe(first.sessionId);
    // (Not refreshed: that would end it in D1 too. Its D1 row stays live.)
    expect(await d1Row(idle.sessionId)).toMatchObject({ first_refresh_token_hash: null });
    // Three more sign-ins and a fifth: D1 counts five live before it (the idle one too); the rule
    // must not evict the kept session, the oldest live one, to make room.
    const newer = [await login(account), await login(account), await login(account)];
    const fifth = await login(account);
    const listed = await json(await call("/v1/auth/sessions", { token: fifth.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, ...newer.map((p) => p.sessionId), fifth.sessionId].sort());
    expect((await refreshWith(kept.refreshToken)).status).toBe(200);
    expect(listed.sessions.map((s: Json) => s.id)).not.toContain(idle.sessionId);
  });
});

describe("an object from before slice 2 (schema version 1, holding an adopted session)", () => {
  it("migrates on its next call, whose refresh fills what vouching needs; the one after makes no D1 trip", async () => {
    const account = await verifiedAccount("edge-v1");
    const signedIn = await login(account);
    const stub = userObject(account.userId);
    const now = Date.now();
    // What the code before this slice left: the version-1 tables holding the session, D1's hash cleared
    // (the sign-in started in the object wrote its D1 row first; its storage is replaced here).
    await stub.settle();
    await runInDurableObject(stub, async (_instance, state) => {
      await state.storage.deleteAll();
      migrate(state.storage, TOKEN_STORE_MIGRATIONS.slice(0, 1));
      state.storage.sql.exec("INSERT INTO session_state (id, created_at, expires_at) VALUES (?, ?, ?)", signedIn.sessionId, now, now + 30 * DAY);
      state.storage.sql.exec("INSERT INTO tokens (hash, session_id, issued_at) VALUES (?, ?, ?)", await sha256(signedIn.refreshToken), signedIn.sessionId, now);
      state.storage.sql.exec("INSERT INTO meta (key, value) VALUES ('role', 'user')");
    });
    await env.DB.prepare("UPDATE sessions SET first_refresh_token_hash = NULL WHERE id = ?").bind(signedIn.sessionId).run();
    await evictDurableObject(stub);

    const first = await json(await refreshWith(signedIn.refreshToken));
    expect(first.sessionId).toBe(signedIn.sessionId);
    const state = await runInDurableObject(stub, (_instance, s) => ({
      version: schemaVersion(s.storage.sql),
      row: s.storage.sql.exec("SELECT checked_epoch, d1_expires_at FROM session_state WHERE id = ?", signedIn.sessionId).one(),
    }));
    expect(state.version).toBe(TOKEN_STORE_MIGRATIONS.length);
    expect(state.row.checked_epoch).not.toBeNull();
    expect(state.row.d1_expires_at).toBe((await d1Row(signedIn.sessionId))!.expires_at);

    const next = await countingD1(account.userId, async (fetchAs) => rotate(fetchAs, first));
    expect(next.value.sessionId).toBe(signedIn.sessionId);
    expect({ worker: next.workerTrips, object: next.objectTrips }).toEqual({ worker: 0, object: 0 });
  });
});
