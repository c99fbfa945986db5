/**
 * The web sign-in (API.md §13) against a real OpenID Provider on loopback (oidc-provider, through
 * OIDC_PROVIDERS and discovery), driven by a plain HTTP client following redirects: authorize →
 * provider login → callback → the app's redirect_uri with our one-time code → token.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exports } from "cloudflare:workers";
import { BASE, call, captureLogs, claims, expectError, freshIp, json, uniqueEmail } from "../helpers";
import { APP_REDIRECT, codeFlow, codeFlowSignIn, oidc } from "../helpers/oidc";

const sha256 = async (value: string) => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

/** A GET to the Worker that does not follow redirects. */
const get = (path: string) => exports.default.fetch(new Request(`${BASE}${path}`, { headers: { "cf-connecting-ip": freshIp() }, redirect: "manual" }));

describe("the code flow with PKCE", () => {
  it("signs in end to end and hands the app only a one-time code of ours", async () => {
    const email = uniqueEmail("web");
    const visited: string[] = [];
    const landed = await codeFlow({ account: { sub: `web-${crypto.randomUUID()}`, email, email_verified: true }, state: "app-state-1", visited });
    expect(landed.origin + landed.pathname).toBe(APP_REDIRECT);
    expect(landed.searchParams.get("state")).toBe("app-state-1");
    const code = landed.searchParams.get("code")!;
    expect(code).toMatch(/^[\w-]{43}$/);
    // The provider was really visited, with PKCE S256 and our own state.
    const toProvider = new URL(visited.find((u) => u.startsWith(`${oidc.issuer}/auth?`))!);
    expect(toProvider.searchParams.get("code_challenge_method")).toBe("S256");
    expect(toProvider.searchParams.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(toProvider.searchParams.get("state")).not.toBe("app-state-1");
    expect(toProvider.searchParams.get("nonce")).toBeTruthy();
    expect(toProvider.searchParams.get("redirect_uri")).toBe("http://auth.test/v1/auth/oauth/loopback/callback");

    // Stored hashed, never as is.
    const stored = await env.DB.prepare("SELECT code_hash FROM oauth_codes WHERE code_hash = ?").bind(await sha256(code)).first();
    expect(stored).not.toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM oauth_codes WHERE code_hash = ?").bind(code).first()).toBeNull();

    const exchanged = await call("/v1/auth/oauth/token", { body: { code } });
    expect(exchanged.status).toBe(200);
    const pair = await json(exchanged);
    expect(pair.user).toMatchObject({ email, emailVerified: true, isGuest: false });
    expect(claims(pair.accessToken).role).toBe("user");
    // No token of ours in any URL of the flow.
    for (const url of visited) {
      expect(url).not.toContain(pair.accessToken);
      expect(url).not.toContain(pair.refreshToken);
    }
    // Single use.
    await expectError(await call("/v1/auth/oauth/token", { body: { code } }), 401, "invalid_credentials");
  });

  it("refuses an expired one-time code (60 s)", async () => {
    const landed = await codeFlow({ account: { sub: `late-${crypto.randomUUID()}` } });
    const code = landed.searchParams.get("code")!;
    const row = await env.DB.prepare("SELECT created_at, expires_at FROM oauth_codes WHERE code_hash = ?").bind(await sha256(code)).first<{ created_at: number; expires_at: number }>();
    expect(row!.expires_at - row!.created_at).toBe(60_000);
    await env.DB.prepare("UPDATE oauth_codes SET expires_at = ? WHERE code_hash = ?").bind(Date.now() - 1, await sha256(code)).run();
    await expectError(await call("/v1/auth/oauth/token", { body: { code } }), 401, "invalid_credentials");
  });

  it("spends the state at its first use and refuses it once expired (10 minutes)", async () => {
    const authorize = await get(`/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}`);
    expect(authorize.status).toBe(302);
    const state = new URL(authorize.headers.get("location")!).searchParams.get("state")!;
    const row = await env.DB.prepare("SELECT * FROM oauth_states WHERE state_hash = ?").bind(await sha256(state)).first<{ created_at: number; expires_at: number; code_verifier: string }>();
    expect(row!.expires_at - row!.created_at).toBe(600_000);
    await env.DB.prepare("UPDATE oauth_states SET expires_at = ? WHERE state_hash = ?").bind(Date.now() - 1, await sha256(state)).run();
    await expectError(await get(`/v1/auth/oauth/loopback/callback?state=${state}&code=x`), 400, "invalid_request");

    // A replayed callback (the state already spent) is refused too.
    const visited: string[] = [];
    const landed = await codeFlow({ account: { sub: `replay-${crypto.randomUUID()}` }, visited });
    expect(landed.searchParams.get("code")).toBeTruthy();
    const callback = visited.find((u) => u.startsWith("http://auth.test/v1/auth/oauth/loopback/callback"))!;
    await expectError(await get(callback.slice("http://auth.test".length)), 400, "invalid_request");
    await expectError(await call("/v1/auth/oauth/loopback/callback?code=x"), 400, "invalid_request");
  });

  it("sends the provider's refusal to the app as ?error= with its state", async () => {
    const authorize = await get(`/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}&state=s-9`);
    const state = new URL(authorize.headers.get("location")!).searchParams.get("state")!;
    const back = await get(`/v1/auth/oauth/loopback/callback?state=${state}&error=access_denied`);
    expect(back.status).toBe(302);
    const to = new URL(back.headers.get("location")!);
    expect([to.origin + to.pathname, to.searchParams.get("error"), to.searchParams.get("state"), to.searchParams.get("code")]).toEqual([APP_REDIRECT, "access_denied", "s-9", null]);
  });

  it("answers ?error= when the provider's code does not exchange (a forged code)", async () => {
    const authorize = await get(`/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}`);
    const state = new URL(authorize.headers.get("location")!).searchParams.get("state")!;
    const back = await get(`/v1/auth/oauth/loopback/callback?state=${state}&code=forged&iss=${encodeURIComponent(oidc.issuer)}`);
    expect(back.status).toBe(302);
    expect(new URL(back.headers.get("location")!).searchParams.get("error")).toBe("access_denied");
  });

  it("takes redirect_uri only from REDIRECT_ORIGINS, by exact origin", async () => {
    for (const bad of [
      "https://evil.example.com/cb",
      "https://app.example.com.evil.com/cb",
      "http://app.example.com/cb",
      "https://user:pw@app.example.com/cb",
      "https://app.example.com:8443/cb",
      "https://app.example.com/cb#frag",
      "javascript:alert(1)",
      "not a url",
    ]) {
      const response = await get(`/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent(bad)}`);
      await expectError(response, 400, "invalid_request");
    }
    expect((await get(`/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent("http://localhost:5173/cb")}`)).status).toBe(302);
  });

  it("answers 404 for an unknown provider, on every route that names one", async () => {
    await expectError(await get(`/v1/auth/oauth/nope/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}`), 404, "not_found");
    await expectError(await get(`/v1/auth/oauth/__proto__/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}`), 404, "not_found");
    await expectError(await call("/v1/auth/oauth/nope/callback?state=x"), 404, "not_found");
    await expectError(await call("/v1/auth/id-token", { body: { provider: "nope", idToken: "x.y.z" } }), 404, "not_found");
  });

  it("runs the web flow of a provider with no client secret as a public client (PKCE alone)", async () => {
    expect((await get(`/v1/auth/oauth/rotating/authorize?redirect_uri=${encodeURIComponent(APP_REDIRECT)}`)).status).toBe(302);
  });

  it("never logs the client secret, the provider's code or ours", async () => {
    const logs = captureLogs();
    try {
      const landed = await codeFlow({ account: { sub: `quiet-${crypto.randomUUID()}` } });
      const code = landed.searchParams.get("code")!;
      const pair = await json(await call("/v1/auth/oauth/token", { body: { code } }));
      const text = logs.lines.join("\n");
      for (const secret of [oidc.clients.web.secret, env.OIDC_SECRET_APPLE as string, code, pair.accessToken, pair.refreshToken]) expect(text).not.toContain(secret);
    } finally {
      logs.restore();
    }
  });

  it("a guest's Bearer token at the exchange upgrades the guest in place", async () => {
    const guest = await json(await call("/v1/auth/guest", { method: "POST" }));
    const email = uniqueEmail("web-guest");
    const response = await codeFlowSignIn({ account: { sub: `g-${crypto.randomUUID()}`, email, email_verified: true }, token: guest.accessToken });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: guest.user.id, isGuest: false, email, emailVerified: true });
    expect(pair.sessionId).toBe(guest.sessionId);
  });
});
