/**
 * The per-user object's token state over HTTP: rotation, the reuse window, reuse detection,
 * concurrency, a failed D1 write, the session limit and expiry.
 */
import { signIn } from "../../src/sessions";
import { serviceDeps, storedPasswordHash } from "../helpers";
import { describe, expect, it } from "vitest";
import {
  advanceUserClock, call, claims, env, expectError, guest, json, legacyGuest, login, refreshWith, verifiedAccount,
} from "../helpers";

const me = (accessToken: string) => call("/v1/auth/me", { token: accessToken });

/** Moves the user's object `ms` on, so every rotation is that much older: the reuse window is 10 s by default. */
const ageRotations = (userId: string, ms: number) => advanceUserClock(userId, ms);

describe("refresh rotation", () => {
  it("returns a new pair and ends the old refresh token after the reuse window", async () => {
    const first = await guest();
    const response = await refreshWith(first.refreshToken);
    expect(response.status).toBe(200);
    const second = await json(response);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.user.id).toBe(first.user.id);
    expect(second.tokenType).toBe("Bearer");
    expect(second.expiresIn).toBe(3600);

    await ageRotations(first.user.id, 11_000);
    await expectError(await refreshWith(first.refreshToken), 401, "invalid_token");
  });

  it("gives the same new pair to the same old token inside the reuse window", async () => {
    const first = await guest();
    const a = await json(await refreshWith(first.refreshToken));
    const b = await json(await refreshWith(first.refreshToken));
    expect(b.refreshToken).toBe(a.refreshToken);
    expect(b.accessToken).toBe(a.accessToken);
    // The successor is the live token: it rotates normally.
    const c = await refreshWith(a.refreshToken);
    expect(c.status).toBe(200);
  });

  it("revokes the whole session when a rotated token comes back after the window", async () => {
    const first = await guest();
    const second = await json(await refreshWith(first.refreshToken));
    await ageRotations(first.user.id, 11_000);
    await expectError(await refreshWith(first.refreshToken), 401, "invalid_token");
    // The family is gone: the successor and its access token are rejected too.
    await expectError(await refreshWith(second.refreshToken), 401, "invalid_token");
    await expectError(await me(second.accessToken), 401, "invalid_token");
    const row = await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(first.sessionId).first();
    expect(row).toEqual({ revoked_reason: "reuse" });
  });

  it("treats reuse of an older ancestor the same way", async () => {
    const t0 = await guest();
    const t1 = await json(await refreshWith(t0.refreshToken));
    const t2 = await json(await refreshWith(t1.refreshToken));
    expect(t2.refreshToken).toBeTruthy();
    // t0's successor (t1) is no longer current, so even inside the window t0 is reuse.
    await expectError(await refreshWith(t0.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(t2.refreshToken), 401, "invalid_token");
  });

  it("leaves exactly one valid successor after twenty concurrent refreshes of one token", async () => {
    const first = await guest();
    const responses = await Promise.all(Array.from({ length: 20 }, () => refreshWith(first.refreshToken)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const pairs = await Promise.all(responses.map(json));
    const successors = new Set(pairs.map((p) => p.refreshToken));
    expect(successors.size).toBe(1);
    const [successor] = [...successors] as [string];

    await ageRotations(first.user.id, 11_000);
    const next = await refreshWith(successor);
    expect(next.status).toBe(200);
    const sessions = await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL")
      .bind(first.user.id)
      .first<{ n: number }>();
    expect(sessions?.n).toBe(1);
  });

  it("can retry with the same token when the D1 write of a refresh fails", async () => {
    // A session from before slice 8, adopted at its first refresh: that refresh writes D1.
    const first = await legacyGuest();
    const trigger = `fail_refresh_${first.user.id.replace(/-/g, "")}`;
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} BEFORE UPDATE OF expires_at ON sessions WHEN NEW.user_id = '${first.user.id}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    try {
      const failed = await refreshWith(first.refreshToken);
      const body = await expectError(failed, 503, "unavailable");
      expect(failed.headers.get("retry-after")).toBe("1");
      expect(JSON.stringify(body)).not.toContain("injected");
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    // Nothing was half-done: the same token still rotates, even after the reuse window.
    await ageRotations(first.user.id, 11_000);
    const retried = await refreshWith(first.refreshToken);
    expect(retried.status).toBe(200);
    expect((await json(retried)).sessionId).toBe(first.sessionId);
  });

  it("rejects malformed, forged and unknown refresh tokens", async () => {
    const first = await guest();
    await expectError(await refreshWith("not-a-token"), 401, "invalid_token");
    // Right ids, wrong secret: the ids route the token but grant nothing.
    const forged = first.refreshToken.slice(0, 43) + "A".repeat(43);
    await expectError(await refreshWith(forged), 401, "invalid_token");
    // A forged token does not revoke the victim's session either.
    expect((await refreshWith(first.refreshToken)).status).toBe(200);
    await expectError(await call("/v1/auth/refresh", { body: {} }), 400, "invalid_request");
  });
});

describe("session limits and lifetimes", () => {
  it("revokes the oldest session when a sixth is issued", async () => {
    const account = await verifiedAccount("limit");
    const pairs = [];
    for (let i = 0; i < 6; i++) pairs.push(await login(account));
    await expectError(await me(pairs[0].accessToken), 401, "invalid_token");
    await expectError(await refreshWith(pairs[0].refreshToken), 401, "invalid_token");
    for (const pair of pairs.slice(1)) expect((await me(pair.accessToken)).status).toBe(200);
    const listed = await json(await call("/v1/auth/sessions", { token: pairs[5].accessToken }));
    expect(listed.sessions).toHaveLength(5);
    expect(listed.sessions.map((s: { id: string }) => s.id)).not.toContain(pairs[0].sessionId);
  });

  it("gives full accounts 30-day refresh tokens and guests none that expire", async () => {
    const account = await verifiedAccount("ttl");
    const pair = await login(account);
    expect(pair.refreshExpiresIn).toBe(30 * 86_400);
    const g = await guest();
    expect(g.refreshExpiresIn).toBeNull();
    const [listed] = (await json(await call("/v1/auth/sessions", { token: g.accessToken }))).sessions;
    expect(listed.expiresAt).toBeNull();
    const refreshed = await json(await refreshWith(pair.refreshToken));
    expect(refreshed.refreshExpiresIn).toBe(30 * 86_400);
  });

  it("answers 401 to an expired refresh token", async () => {
    const account = await verifiedAccount("expired");
    const pair = await login(account);
    // A second past the 30-day refresh-token lifetime, on the object's clock.
    await advanceUserClock(account.userId, 30 * 86_400_000 + 1000);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("never extends a full account's session past its absolute lifetime", async () => {
    const account = await verifiedAccount("absolute");
    let pair = await login(account);
    const day = 86_400_000;
    // Kept alive by a refresh every 29 days (each renews the 30-day token) up to day 348, whose
    // token runs only to day 365.
    for (let i = 1; i <= 12; i++) {
      await advanceUserClock(account.userId, 29 * day);
      pair = await json(await refreshWith(pair.refreshToken));
      expect(pair.refreshExpiresIn).toBeLessThanOrEqual(Math.min(30, 365 - 29 * i) * 86_400);
      expect(pair.refreshExpiresIn).toBeGreaterThan(Math.min(30, 365 - 29 * i) * 86_400 - 60);
    }
    // Day 364.5: the next refresh may only run to day 365, not 30 days on.
    await advanceUserClock(account.userId, 16.5 * day);
    const late = await json(await refreshWith(pair.refreshToken));
    expect(late.refreshExpiresIn).toBeGreaterThan(0.4 * 86_400);
    expect(late.refreshExpiresIn).toBeLessThanOrEqual(0.5 * 86_400);
    // Past day 365 the session is over.
    await advanceUserClock(account.userId, 1.5 * day);
    await expectError(await refreshWith(late.refreshToken), 401, "invalid_token");
    await expectError(await me(late.accessToken), 401, "invalid_token");
  });

  it("issues ES256 access tokens with the documented claims", async () => {
    const g = await guest();
    const header = JSON.parse(atob(g.accessToken.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
    expect(header).toMatchObject({ alg: "ES256", typ: "JWT" });
    expect(typeof header.kid).toBe("string");
    const c = claims(g.accessToken);
    expect(c).toMatchObject({ sub: g.user.id, sid: g.sessionId, role: "guest", iss: "edge-auth", aud: "edge-auth-clients" });
    expect(c.exp - c.iat).toBe(3600);
    expect(typeof c.jti).toBe("string");
  });
});

describe("password sign-in against a concurrent reset", () => {
  it("issues nothing when the checked password hash is no longer the account's", async () => {
    const account = await verifiedAccount("signin-race");
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await login(account));
    const counted = () =>
      env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(account.userId).first<{ n: number }>("n");
    expect(await counted()).toBe(5);

    // The login checked a hash that a reset has replaced since: no session, no eviction.
    const stale = await signIn(serviceDeps(), { method: "password", userId: account.userId, passwordHash: "pbkdf2-sha256$100000$stale$stale" });
    expect(stale).toBeNull();
    expect(await counted()).toBe(5);
    for (const s of sessions) expect((await me(s.accessToken)).status).toBe(200);

    // With the current hash the sixth session is issued and the oldest one evicted.
    const current = (await storedPasswordHash(account.userId)).hash;
    const fresh = await signIn(serviceDeps(), { method: "password", userId: account.userId, passwordHash: current! });
    expect(fresh?.user.id).toBe(account.userId);
    expect(await counted()).toBe(5);
    expect((await me(sessions[0]!.accessToken)).status).toBe(401);
  });
});
