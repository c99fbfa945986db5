/**
 * Access tokens verify with standard clients (jose's createRemoteJWKSet and Hono's jwk
 * middleware) against the served JWKS, which publishes the current and previous keys.
 */
import { Hono } from "hono";
import { jwk } from "hono/jwk";
import { SignJWT, createRemoteJWKSet, customFetch, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { accessClaims, call, env, expectError, guest, json, serviceSigningKey, signToken } from "../helpers";

const jwksFetch = (url: string) => call(new URL(url).pathname);

async function previousKeyToken(claims: { sub: string; sid: string }) {
  const previous = JSON.parse(env.TEST_PREVIOUS_SIGNING_KEY);
  const key = await importJWK(previous, "ES256");
  return new SignJWT({ sid: claims.sid, role: "guest" })
    .setProtectedHeader({ alg: "ES256", kid: previous.kid, typ: "JWT" })
    .setIssuer("edge-auth")
    .setAudience("edge-auth-clients")
    .setSubject(claims.sub)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);
}

describe("JWKS", () => {
  it("publishes the current and previous public keys, and no private part", async () => {
    const response = await call("/.well-known/jwks.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const { keys } = await json(response);
    const current = JSON.parse(env.JWT_SIGNING_KEY as string);
    expect(keys.map((k: { kid: string }) => k.kid)).toEqual([current.kid, expect.stringMatching(/^dev-test-previous/)]);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      expect(key.d).toBeUndefined();
    }
  });
});

describe("standard clients", () => {
  it("jose's createRemoteJWKSet verifies an access token", async () => {
    const g = await guest();
    const keySet = createRemoteJWKSet(new URL("http://auth.test/.well-known/jwks.json"), { [customFetch]: jwksFetch });
    const { payload, protectedHeader } = await jwtVerify(g.accessToken, keySet, {
      issuer: "edge-auth",
      audience: "edge-auth-clients",
      algorithms: ["ES256"],
      typ: "JWT",
    });
    expect(payload.sub).toBe(g.user.id);
    expect(protectedHeader.typ).toBe("JWT");
  });

  it("Hono's jwk middleware verifies an access token", async () => {
    const g = await guest();
    const app = new Hono<{ Variables: { jwtPayload: { sub: string } } }>();
    app.use("/private", jwk({ keys: async () => (await json(await call("/.well-known/jwks.json"))).keys, alg: ["ES256"] }));
    app.get("/private", (c) => c.json({ sub: c.get("jwtPayload").sub }));
    const ok = await app.request("/private", { headers: { authorization: `Bearer ${g.accessToken}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: g.user.id });
    const bad = await app.request("/private", { headers: { authorization: `Bearer ${g.accessToken}x` } });
    expect(bad.status).toBe(401);
  });

  it("accepts tokens signed with the previous key until they expire", async () => {
    const g = await guest();
    const token = await previousKeyToken({ sub: g.user.id, sid: g.sessionId });
    const response = await call("/v1/auth/me", { token });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(g.user.id);
  });

  it("refuses a token whose kid is not published", async () => {
    const g = await guest();
    const own = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const token = await new SignJWT({ sid: g.sessionId, role: "guest" })
      .setProtectedHeader({ alg: "ES256", kid: "attacker", typ: "JWT" })
      .setIssuer("edge-auth")
      .setAudience("edge-auth-clients")
      .setSubject(g.user.id)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign((own as CryptoKeyPair).privateKey);
    await expectError(await call("/v1/auth/me", { token }), 401, "invalid_token");
  });

  it("refuses a validly signed token issued in the future, at every door that takes one", async () => {
    const g = await guest();
    const { kid } = await serviceSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const future = await signToken(
      { alg: "ES256", kid, typ: "JWT" },
      { ...accessClaims({ userId: g.user.id, sessionId: g.sessionId }), iat: now + 3600, exp: now + 7200 },
    );
    await expectError(await call("/v1/auth/me", { token: future }), 401, "invalid_token");
    await expectError(
      await call("/auth/refresh", { body: { access_token: future, refresh_token: g.refreshToken } }),
      401,
      "invalid_token",
    );
  });
});
