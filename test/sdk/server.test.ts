/**
 * edge-auth/server against the running service: the JWKS verifier (a rotated key still verifies;
 * another issuer, audience, type, key or a missing claim is refused), the Hono middleware in a
 * second Worker, and that Worker's service binding to the service's AuthRpc entrypoint, which
 * refuses a revoked session at once while JWKS-only verification accepts it until it expires.
 */
import { SignJWT, generateKeyPair, importJWK } from "jose";
import type { JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { createVerifier } from "../../sdk/server";
import { client, consumerUrl, keys, serviceUrl } from "./helpers";

const options = { jwksUrl: `${serviceUrl}/.well-known/jwks.json`, issuer: "edge-auth", audience: "edge-auth-clients" };
const verifier = createVerifier(options);

async function sign(key: CryptoKey | Uint8Array | Awaited<ReturnType<typeof importJWK>>, kid: string, claims: JWTPayload = {}, typ = "JWT") {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: "edge-auth", aud: "edge-auth-clients", sub: crypto.randomUUID(), sid: crypto.randomUUID(), jti: crypto.randomUUID(),
    iat: now, exp: now + 600, role: "user", ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ }).sign(key);
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("createVerifier (JWKS)", () => {
  it("verifies the service's access token", async () => {
    const { auth } = client();
    const pair = await auth.guest();
    const verified = await verifier.verify(pair.accessToken);
    expect(verified).toMatchObject({ userId: pair.user.id, sessionId: pair.sessionId, role: "guest" });
    expect(verified.claims).toMatchObject({ iss: "edge-auth", aud: "edge-auth-clients", sub: pair.user.id, sid: pair.sessionId });
  });

  it("accepts a token signed with the previous (rotated, still published) key", async () => {
    const previous = await importJWK(keys.previous, "ES256");
    const token = await sign(previous, keys.previous.kid);
    expect((await verifier.verify(token)).role).toBe("user");
  });

  it("refuses another issuer, audience or type, an unknown key, a missing claim, an expired token", async () => {
    const current = await importJWK(keys.signing, "ES256");
    const kid = keys.signing.kid;
    expect((await verifier.verify(await sign(current, kid))).role).toBe("user"); // the control
    const stranger = await generateKeyPair("ES256");
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      await sign(current, kid, { iss: "someone-else" }),
      await sign(current, kid, { aud: "another-audience" }),
      await sign(current, kid, {}, "at+jwt"),
      await sign(stranger.privateKey, kid),
      await sign(current, kid, { sid: undefined }),
      await sign(current, kid, { role: "admin" }),
      await sign(current, kid, { exp: now - 120, iat: now - 720 }),
      "not.a.token",
    ];
    for (const token of refused) await expect(verifier.verify(token)).rejects.toThrow();
  });
});

describe("edgeAuth middleware and the AuthRpc service binding (a second Worker)", () => {
  it("the middleware sets c.get('auth') or answers the §5 401", async () => {
    const { auth } = client();
    const pair = await auth.guest();
    const byJwks = await fetch(`${consumerUrl}/jwks/me`, bearer(pair.accessToken));
    expect(byJwks.status).toBe(200);
    expect(await byJwks.json()).toMatchObject({ userId: pair.user.id, sessionId: pair.sessionId, role: "guest", claims: { sid: pair.sessionId } });

    for (const path of ["/jwks/me", "/rpc/me"]) {
      for (const init of [{}, bearer("not.a.token")]) {
        const refused = await fetch(`${consumerUrl}${path}`, init);
        expect(refused.status).toBe(401);
        expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(await refused.json()).toMatchObject({ statusCode: 401, error: "invalid_token" });
      }
    }
  });

  it("verifySession answers the public user fields only", async () => {
    const { auth } = client();
    const pair = await auth.guest();
    const byRpc = await fetch(`${consumerUrl}/rpc/me`, bearer(pair.accessToken));
    expect(byRpc.status).toBe(200);
    const body = (await byRpc.json()) as { user: Record<string, unknown> };
    expect(body).toEqual({ userId: pair.user.id, sessionId: pair.sessionId, role: "guest", aal: "aal1", amr: ["guest"], authTime: expect.any(Number), user: pair.user });
    expect(Object.keys(body.user).sort()).toEqual(["createdAt", "email", "emailVerified", "id", "isGuest", "mfaEnabled", "profilePicture", "username"]);
  });

  it("after a revoke the binding refuses the token at once; JWKS alone accepts it until exp", async () => {
    const { auth } = client();
    const pair = await auth.guest();
    expect((await fetch(`${consumerUrl}/rpc/me`, bearer(pair.accessToken))).status).toBe(200);
    expect(await auth.logout()).toBe(true);

    const session = await fetch(`${consumerUrl}/rpc/verify-session`, { method: "POST", body: JSON.stringify({ accessToken: pair.accessToken }) });
    expect(await session.json()).toEqual({ session: null });
    expect((await fetch(`${consumerUrl}/rpc/me`, bearer(pair.accessToken))).status).toBe(401);
    // The trade-off (docs/sdk.md): a JWKS-only verifier cannot know of the revocation.
    expect((await fetch(`${consumerUrl}/jwks/me`, bearer(pair.accessToken))).status).toBe(200);
    expect((await verifier.verify(pair.accessToken)).sessionId).toBe(pair.sessionId);
  });

  it("every refusal carries X-Request-Id: the caller's when it sent one, else a fresh one (passed to AuthRpc for its log line)", async () => {
    const refused = await fetch(`${consumerUrl}/rpc/me`, { headers: { authorization: "Bearer not.a.token", "x-request-id": "app-req-1" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("x-request-id")).toBe("app-req-1");
    const fresh = await fetch(`${consumerUrl}/rpc/me`);
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a binding without AuthRpc (plain Service to the default entrypoint): 503 unavailable, not a 500", async () => {
    const { auth } = client();
    const pair = await auth.guest();
    const answer = await fetch(`${consumerUrl}/wrong-binding/me`, bearer(pair.accessToken));
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ statusCode: 503, error: "unavailable" });
    expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
