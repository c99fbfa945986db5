/**
 * The built-in `apple` and `google` presets (API.md §13), pointed at the loopback provider with
 * their URLs overridden (the real ones cannot be reached offline): Apple's web flow answers by
 * form_post (POST callback, with the `user` field) and authenticates with an ES256 client-secret
 * JWT signed from OIDC_SECRET_APPLE, which the loopback provider verifies like Apple; Google's
 * uses its client secret. The native flow takes each preset's own client ids as audiences.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE, expectError, freshIp, json, uniqueEmail } from "../helpers";
import { codeFlow, codeFlowSignIn, idTokenSignIn, mintIdToken, oidc } from "../helpers/oidc";

describe("the apple preset", () => {
  it("runs the web flow with form_post and the ES256 client-secret JWT", async () => {
    const visited: string[] = [];
    const email = uniqueEmail("apple");
    const response = await codeFlowSignIn({
      provider: "apple",
      account: { sub: `apple-${crypto.randomUUID()}`, email, email_verified: true },
      appleUser: JSON.stringify({ name: { firstName: "Ada", lastName: "Lovelace" }, email }),
      visited,
    });
    expect(response.status).toBe(200);
    expect((await json(response)).user).toMatchObject({ email, emailVerified: true });
    const toProvider = new URL(visited.find((u) => u.startsWith(`${oidc.issuer}/auth?`))!);
    expect(toProvider.searchParams.get("response_mode")).toBe("form_post");
    expect(toProvider.searchParams.get("client_id")).toBe(oidc.clients.apple.id);
    // The answer came by POST: the callback URL itself carried no code.
    expect(visited.filter((u) => u.startsWith(`${BASE}/v1/auth/oauth/apple/callback`))).toEqual([`${BASE}/v1/auth/oauth/apple/callback`]);
  });

  it("answers the form_post callback with a 303, so the browser lands with a GET", async () => {
    const authorize = await exports.default.fetch(
      new Request(`${BASE}/v1/auth/oauth/apple/authorize?redirect_uri=${encodeURIComponent("https://app.example.com/cb")}`, { headers: { "cf-connecting-ip": freshIp() }, redirect: "manual" }),
    );
    const state = new URL(authorize.headers.get("location")!).searchParams.get("state")!;
    const back = await exports.default.fetch(
      new Request(`${BASE}/v1/auth/oauth/apple/callback`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": freshIp() },
        body: new URLSearchParams({ state, error: "user_cancelled_authorize" }).toString(),
        redirect: "manual",
      }),
    );
    expect(back.status).toBe(303);
    expect(new URL(back.headers.get("location")!).searchParams.get("error")).toBe("access_denied");
  });

  it("takes Apple's native audience and its hashed nonce", async () => {
    const nonce = crypto.randomUUID();
    const hashed = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce)))].map((b) => b.toString(16).padStart(2, "0")).join("");
    // Apple sends email_verified as a string.
    const email = uniqueEmail("apple-native");
    const idToken = await mintIdToken({ aud: oidc.clients.apple.native, nonce: hashed, email, email_verified: "true" });
    const response = await idTokenSignIn({ provider: "apple", idToken, nonce });
    expect(response.status).toBe(200);
    expect((await json(response)).user).toMatchObject({ email, emailVerified: true });
    // Another provider's audience is not Apple's.
    await expectError(await idTokenSignIn({ provider: "apple", idToken: await mintIdToken({ aud: oidc.clients.native.id }) }), 401, "invalid_credentials");
  });
});

describe("the google preset", () => {
  it("runs the web flow with its client secret", async () => {
    const email = uniqueEmail("google");
    const response = await codeFlowSignIn({ provider: "google", account: { sub: `g-${crypto.randomUUID()}`, email, email_verified: true } });
    expect(response.status).toBe(200);
    expect((await json(response)).user.email).toBe(email);
  });

  it("keeps identities apart per provider: the same sub at google and loopback are two accounts", async () => {
    const sub = `same-${crypto.randomUUID()}`;
    const atGoogle = await json(await idTokenSignIn({ provider: "google", idToken: await mintIdToken({ sub, aud: oidc.clients.google.native }) }));
    const atLoopback = await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }));
    expect(atGoogle.user.id).not.toBe(atLoopback.user.id);
  });

  it("a token for the web client through the code flow's redirect: state carried back", async () => {
    const landed = await codeFlow({ provider: "google", account: { sub: `gs-${crypto.randomUUID()}` }, state: "g-state" });
    expect(landed.searchParams.get("state")).toBe("g-state");
  });
});
