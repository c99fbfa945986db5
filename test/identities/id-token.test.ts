/**
 * The native sign-in (POST /v1/auth/id-token) and every ID-token check of API.md §13, with tokens
 * signed by the loopback provider's own published key, or forged around it.
 */
import * as jose from "jose";
import { describe, expect, it } from "vitest";
import { expectError, json, uniqueEmail } from "../helpers";
import { idTokenSignIn, mintIdToken, oidc, providerKey } from "../helpers/oidc";

const hex = async (value: string) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)))].map((b) => b.toString(16).padStart(2, "0")).join("");

const refused = async (body: Record<string, unknown>) => {
  const response = await idTokenSignIn(body);
  await expectError(response, 401, "invalid_credentials");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
};

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

describe("POST /v1/auth/id-token", () => {
  it("signs in with a valid token: a new full account without a password, the verified email adopted", async () => {
    const email = uniqueEmail("native");
    const response = await idTokenSignIn({ idToken: await mintIdToken({ email, email_verified: true }) });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ email, emailVerified: true, isGuest: false });
    expect(pair.refreshExpiresIn).toBeGreaterThan(0);
  });

  it("accepts any of clientIds as the audience, and an array audience with azp", async () => {
    expect((await idTokenSignIn({ idToken: await mintIdToken({ aud: oidc.clients.web.id }) })).status).toBe(200);
    expect((await idTokenSignIn({ idToken: await mintIdToken({ aud: [oidc.clients.native.id, "other"], azp: oidc.clients.native.id }) })).status).toBe(200);
    await refused({ idToken: await mintIdToken({ aud: [oidc.clients.native.id, "other"], azp: "other" }) });
  });

  it("refuses a wrong issuer, a wrong audience, an expired token and an iat beyond 60 s in the future", async () => {
    await refused({ idToken: await mintIdToken({ iss: "http://127.0.0.1:1" }) });
    await refused({ idToken: await mintIdToken({ iss: `${oidc.issuer}/` }) });
    await refused({ idToken: await mintIdToken({ aud: "someone-else" }) });
    await refused({ idToken: await mintIdToken({ exp: now() - 61, iat: now() - 600 }) });
    await refused({ idToken: await mintIdToken({ iat: now() + 120, exp: now() + 600 }) });
    await refused({ idToken: await mintIdToken({ iat: undefined }) });
    await refused({ idToken: await mintIdToken({ exp: undefined }) });
    await refused({ idToken: await mintIdToken({ sub: undefined }) });
    // Within the skew both ways.
    expect((await idTokenSignIn({ idToken: await mintIdToken({ exp: now() - 30, iat: now() - 600 }) })).status).toBe(200);
    expect((await idTokenSignIn({ idToken: await mintIdToken({ iat: now() + 30 }) })).status).toBe(200);
  });

  it("refuses a bad signature, alg none, an HMAC token keyed with the public key, and another kind of JWT", async () => {
    const good = await mintIdToken();
    const [header, payload, signature] = good.split(".");
    const flipped = signature!.startsWith("A") ? `B${signature!.slice(1)}` : `A${signature!.slice(1)}`;
    await refused({ idToken: `${header}.${payload}.${flipped}` });
    // Claims changed under the same signature.
    const claims = JSON.parse(atob(payload!.replace(/-/g, "+").replace(/_/g, "/")));
    await refused({ idToken: `${header}.${b64({ ...claims, sub: "someone-else" })}.${signature}` });

    const key = await providerKey();
    await refused({ idToken: `${b64({ alg: "none", kid: key.kid, typ: "JWT" })}.${payload}.` });

    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = key;
    const hmac = new TextEncoder().encode(JSON.stringify(publicJwk));
    const confused = await new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: key.kid, typ: "JWT" }).sign(hmac);
    await refused({ idToken: confused });

    await refused({ idToken: await mintIdToken({}, { header: { typ: "at+jwt" } }) });
    await refused({ idToken: "not-a-jwt" });
  });

  it("signs with a key the provider does not publish: refused", async () => {
    const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
    const stranger = { ...(await jose.exportJWK(privateKey)), kid: (await providerKey()).kid };
    await refused({ idToken: await mintIdToken({}, { key: stranger }) });
  });

  describe("the nonce", () => {
    it("must be sent when the token has one, and equal it", async () => {
      const nonce = crypto.randomUUID();
      expect((await idTokenSignIn({ idToken: await mintIdToken({ nonce }), nonce })).status).toBe(200);
      await refused({ idToken: await mintIdToken({ nonce }) });
      await refused({ idToken: await mintIdToken({ nonce }), nonce: `${nonce}x` });
    });

    it("is refused when sent for a token without one", async () => {
      await refused({ idToken: await mintIdToken(), nonce: "unexpected" });
    });

    it("accepts Apple's form: the claim is the SHA-256 hex of the sent nonce", async () => {
      const nonce = crypto.randomUUID();
      expect((await idTokenSignIn({ idToken: await mintIdToken({ nonce: await hex(nonce) }), nonce })).status).toBe(200);
      // The hash must be of the sent value, not any value.
      await refused({ idToken: await mintIdToken({ nonce: await hex(nonce) }), nonce: "other" });
      // A claim that is neither the nonce nor its hash (here, the hash of the hash): refused.
      await refused({ idToken: await mintIdToken({ nonce: await hex(await hex(nonce)) }), nonce });
    });
  });

  it("answers 400 for a malformed body, never 500", async () => {
    await expectError(await idTokenSignIn({ idToken: 42 }), 400, "invalid_request");
    await expectError(await idTokenSignIn({ provider: undefined, idToken: "x" }), 400, "invalid_request");
  });

  it("is in the login bucket", async () => {
    const response = await idTokenSignIn({ idToken: "x.y.z" });
    expect(response.headers.get("ratelimit-limit")).toBe("5");
  });
});
