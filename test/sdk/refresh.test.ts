/**
 * The client's session keeping against the real service: single-flight and proactive refresh,
 * fetch() retrying once after a 401 invalid_token, transient failures (network, 503, 429 with
 * Retry-After) keeping the session, a 401 from refresh ending it, logout while offline, storage
 * adapters (sync, async, Web Storage) and two clients sharing one store as two tabs do.
 */
import { describe, expect, it } from "vitest";
import { EdgeAuthError, createClient, localStorageAdapter, memoryStorage } from "../../sdk/client";
import type { Session, TokenStorage } from "../../sdk/client";
import { consumerUrl, client, network, serviceUrl, sleep } from "./helpers";

const KEY = "edge-auth:session";

/** A signed-in guest whose tokens sit in `storage`, then the stored copy patched (e.g. expiresAt). */
async function storedGuest(storage: TokenStorage, patch: Record<string, unknown> = {}) {
  const { auth } = client({ storage });
  const pair = await auth.guest();
  const stored = JSON.parse((await storage.get(KEY))!) as Record<string, unknown>;
  await storage.set(KEY, JSON.stringify({ ...stored, ...patch }));
  return pair;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("refresh", () => {
  it("20 concurrent getAccessToken() near expiry send exactly one refresh", async () => {
    const storage = memoryStorage();
    const pair = await storedGuest(storage, { expiresAt: Date.now() + 10_000 });
    const { auth, net } = client({ storage });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => auth.getAccessToken()));
    expect(net.count("/v1/auth/refresh")).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(pair.accessToken);
    expect(auth.session?.accessToken).toBe(tokens[0]);
    expect(auth.session?.user?.id).toBe(pair.user.id); // the refresh brought the profile back
  });

  it("refreshes proactively within the leeway and not before", async () => {
    const early = memoryStorage();
    const pair = await storedGuest(early, { expiresAt: Date.now() + 120_000 });
    const notYet = client({ storage: early, refreshLeewaySeconds: 60 });
    expect(await notYet.auth.getAccessToken()).toBe(pair.accessToken);
    expect(notYet.net.count("/v1/auth/refresh")).toBe(0);

    const due = memoryStorage();
    const duePair = await storedGuest(due, { expiresAt: Date.now() + 30_000 });
    const now = client({ storage: due, refreshLeewaySeconds: 60 });
    const token = await now.auth.getAccessToken();
    expect(token).not.toBe(duePair.accessToken);
    expect(now.net.count("/v1/auth/refresh")).toBe(1);
    expect(now.auth.session!.expiresAt).toBeGreaterThan(Date.now() + 3_500_000);
  });

  it("fetch() adds the Bearer token and after a 401 invalid_token refreshes once and retries", async () => {
    const storage = memoryStorage();
    await storedGuest(storage, { accessToken: "not.a.token", expiresAt: Date.now() + 3_000_000 });
    const { auth, net } = client({ storage });
    const response = await auth.fetch(`${consumerUrl}/rpc/me`);
    expect(response.status).toBe(200);
    const calls = net.requests.filter((r) => r.line === "GET /rpc/me");
    expect(calls.map((c) => c.authorization)).toEqual(["Bearer not.a.token", `Bearer ${auth.session!.accessToken}`]);
    expect(net.count("/v1/auth/refresh")).toBe(1);

    // A 401 for the token just obtained is the app's answer: returned as is, no second refresh
    // (test/sdk/app-401.test.ts counts them under an app that always answers 401).
    const failing = () => json(401, { statusCode: 401, error: "invalid_token", message: "no" }, { "www-authenticate": "Bearer" });
    net.failNext("/jwks/me", failing);
    const refused = await auth.fetch(`${consumerUrl}/jwks/me`, { method: "GET", headers: { "x-app": "1" } });
    expect(refused.status).toBe(401);
    expect(net.count("/jwks/me")).toBe(1);
    expect(net.count("/v1/auth/refresh")).toBe(1);
    expect(auth.session).not.toBeNull();
  });

  it("keeps the session through a network error, a 503 and a 429, waiting Retry-After", async () => {
    const storage = memoryStorage();
    const pair = await storedGuest(storage, { expiresAt: Date.now() - 1000 });
    const { auth, net } = client({ storage });
    const changes: (Session | null)[] = [];
    auth.onChange((s) => changes.push(s));

    net.failNext("/v1/auth/refresh", () => new TypeError("fetch failed"));
    expect(await auth.getAccessToken().catch((e: unknown) => e)).toMatchObject({ status: 0, code: "unavailable" });
    expect(auth.session?.refreshToken).toBe(pair.refreshToken);

    net.failNext("/v1/auth/refresh", () => json(503, { statusCode: 503, error: "unavailable", message: "busy" }, { "retry-after": "1" }));
    expect(await auth.getAccessToken().catch((e: unknown) => e)).toMatchObject({ status: 503, code: "unavailable", retryAfter: 1 });
    expect(auth.session?.refreshToken).toBe(pair.refreshToken);

    net.failNext("/v1/auth/refresh", () => json(429, { statusCode: 429, error: "rate_limited", message: "slow down" }, { "retry-after": "2" }));
    const limited = (await auth.getAccessToken().catch((e: unknown) => e)) as EdgeAuthError;
    expect(limited).toBeInstanceOf(EdgeAuthError);
    expect(limited).toMatchObject({ status: 429, code: "rate_limited", retryAfter: 2 });
    const limitedAt = net.requests.at(-1)!.at;
    expect(auth.session?.refreshToken).toBe(pair.refreshToken);
    expect(JSON.parse((await storage.get(KEY))!).refreshToken).toBe(pair.refreshToken);
    expect(changes).toEqual([]);

    // The next call waits out Retry-After before it asks again, then succeeds with the same token.
    const token = await auth.getAccessToken();
    const retries = net.requests.filter((r) => r.line === "POST /v1/auth/refresh");
    expect(retries).toHaveLength(4);
    expect(retries[3]!.at - limitedAt).toBeGreaterThanOrEqual(1900);
    expect(token).toBe(auth.session!.accessToken);
    expect(auth.session!.sessionId).toBe(pair.sessionId);
  });

  it("a still-valid token is used while a due refresh fails for now", async () => {
    const storage = memoryStorage();
    const pair = await storedGuest(storage, { expiresAt: Date.now() + 20_000 });
    const { auth, net } = client({ storage });
    net.failNext("/v1/auth/refresh", () => json(503, { statusCode: 503, error: "unavailable", message: "busy" }, { "retry-after": "30" }));
    expect(await auth.getAccessToken()).toBe(pair.accessToken);
    expect(await auth.getAccessToken()).toBe(pair.accessToken); // inside Retry-After: no second request
    expect(net.count("/v1/auth/refresh")).toBe(1);
  });

  it("a 401 from refresh ends the session and tells the listeners", async () => {
    const storage = memoryStorage();
    await storedGuest(storage, { expiresAt: Date.now() - 1000 });
    const revoker = createClient({ baseUrl: serviceUrl, storage: { ...storage, remove: () => undefined }, fetch: network().fetch });
    await revoker.ready;
    expect(await revoker.logout()).toBe(true); // revokes the stored refresh token at the service

    const { auth } = client({ storage });
    await auth.ready;
    const changes: (Session | null)[] = [];
    auth.onChange((s) => changes.push(s));
    const error = await auth.getAccessToken().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401, code: "invalid_token" });
    expect(auth.session).toBeNull();
    expect(changes).toEqual([null]);
    expect(await storage.get(KEY)).toBeNull();
  });

  it("logout() clears the local session even when the network is down", async () => {
    const storage = memoryStorage();
    const { auth, net } = client({ storage });
    await auth.guest();
    const changes: (Session | null)[] = [];
    auth.onChange((s) => changes.push(s));
    net.offline();
    expect(await auth.logout()).toBe(false);
    expect(auth.session).toBeNull();
    expect(changes).toEqual([null]);
    expect(await storage.get(KEY)).toBeNull();
    expect(await auth.getAccessToken().catch((e: unknown) => e)).toMatchObject({ status: 401, code: "invalid_token" });
  });

  it("a sign-out during a refresh wins: the pair the refresh brought is revoked, not kept", async () => {
    const storage = memoryStorage();
    await storedGuest(storage, { expiresAt: Date.now() - 1000 });
    const { auth, net } = client({ storage });
    await auth.ready;
    const held = net.hold("/v1/auth/refresh");
    const refreshing = auth.refresh().catch((e: unknown) => e);
    while (net.count("/v1/auth/refresh") === 0) await sleep(10);
    await auth.logout();
    held.release();
    expect(await refreshing).toMatchObject({ status: 401, code: "invalid_token" });
    expect(auth.session).toBeNull();
    expect(await storage.get(KEY)).toBeNull();
    // The client also revokes the pair that arrived after the sign-out (the old token's revoke may
    // already have ended the session; the client cannot know that).
    while (net.count("/v1/auth/revoke") < 2) await sleep(10);
    const revoked = net.requests.filter((r) => r.line === "POST /v1/auth/revoke");
    expect(revoked).toHaveLength(2);
  });
});

describe("storage", () => {
  it("an async store (a React Native secure store): the session survives a restart, tokens only", async () => {
    const values = new Map<string, string>();
    const delay = () => sleep(5);
    const secureStore: TokenStorage = {
      get: async (key) => (await delay(), values.get(key) ?? null),
      set: async (key, value) => void (await delay(), values.set(key, value)),
      remove: async (key) => void (await delay(), values.delete(key)),
    };
    const first = client({ storage: secureStore });
    const pair = await first.auth.guest();
    expect(Object.keys(JSON.parse(values.get(KEY)!)).sort()).toEqual(["accessToken", "expiresAt", "refreshToken", "sessionId"]);

    const restarted = client({ storage: secureStore });
    expect(restarted.auth.session).toBeNull();
    await restarted.auth.ready;
    expect(restarted.auth.session).toMatchObject({ accessToken: pair.accessToken, sessionId: pair.sessionId, user: null });
    expect(await restarted.auth.getAccessToken()).toBe(pair.accessToken);
    expect((await restarted.auth.me()).user.id).toBe(pair.user.id);
    expect(restarted.auth.session?.user?.id).toBe(pair.user.id);
    await restarted.auth.logout();
    expect(values.size).toBe(0);
  });

  it("localStorageAdapter over a Web Storage: sync, shared, profile never stored", async () => {
    const items = new Map<string, string>();
    const webStorage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
    const storage = localStorageAdapter(webStorage);
    expect(storage.get("missing")).toBeNull(); // answers at once, no promise
    const { auth } = client({ storage });
    const pair = await auth.guest();
    expect(items.get(KEY)).toContain(pair.refreshToken);
    expect(items.get(KEY)).not.toContain(pair.user.id);
  });

  it("two clients on one store (two tabs), both due: one rotation, the second adopts the stored pair", async () => {
    const storage = memoryStorage();
    const pair = await storedGuest(storage, { expiresAt: Date.now() + 5_000 });
    const tabA = client({ storage });
    const tabB = client({ storage });
    await Promise.all([tabA.auth.ready, tabB.auth.ready]);
    const [a, b] = await Promise.all([tabA.auth.getAccessToken(), tabB.auth.getAccessToken()]);
    expect(tabA.net.count("/v1/auth/refresh") + tabB.net.count("/v1/auth/refresh")).toBe(1);
    expect(a).toBe(b);
    expect(a).not.toBe(pair.accessToken);
    expect(tabA.auth.session?.refreshToken).toBe(tabB.auth.session?.refreshToken);
    // The pair both hold is live at the service.
    expect((await tabB.auth.me()).user.id).toBe(pair.user.id);
  });
});
