/**
 * The provider's JWKS (API.md §13): cached, refetched once on an unknown `kid`, so a key rotation
 * at the provider works without restarting the service. Uses the `rotating` loopback issuer, which
 * no other test file touches, and counts its /jwks fetches.
 */
import * as jose from "jose";
import { describe, expect, it } from "vitest";
import { expectError, json } from "../helpers";
import { idTokenSignIn, mintIdToken, oidc, providerKey } from "../helpers/oidc";

const issuer = oidc.rotatingIssuer;
const fetches = async () => ((await (await fetch(`${issuer}/_test/stats`)).json()) as { jwksFetches: number }).jwksFetches;
const signIn = (idToken: string) => idTokenSignIn({ provider: "rotating", idToken });
const token = (key?: jose.JWK & { kid: string }) => mintIdToken({ iss: issuer, aud: oidc.clients.rotating.id }, { issuer, ...(key ? { key } : {}) });

describe("the provider's key set", () => {
  it("is fetched once and then served from the cache", async () => {
    expect((await signIn(await token())).status).toBe(200);
    const before = await fetches();
    for (let i = 0; i < 3; i++) expect((await signIn(await token())).status).toBe(200);
    expect(await fetches()).toBe(before);
  });

  it("is refetched exactly once for an unknown kid, which is then refused", async () => {
    expect((await signIn(await token())).status).toBe(200);
    const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
    const unknown = { ...(await jose.exportJWK(privateKey)), kid: `unknown-${crypto.randomUUID()}` };
    const before = await fetches();
    await expectError(await signIn(await token(unknown)), 401, "invalid_credentials");
    expect(await fetches()).toBe(before + 1);
  });

  it("follows a rotation at the provider without a restart (the old key withdrawn)", async () => {
    const old = await providerKey(issuer);
    expect((await signIn(await token(old))).status).toBe(200);
    const rotated = (await (await fetch(`${issuer}/_test/rotate?drop=1`, { method: "POST" })).json()) as { key: jose.JWK & { kid: string } };
    expect(rotated.key.kid).not.toBe(old.kid);
    const before = await fetches();
    const response = await signIn(await token(rotated.key));
    expect(response.status).toBe(200);
    expect((await json(response)).user.isGuest).toBe(false);
    expect(await fetches()).toBe(before + 1);
    // The withdrawn key is gone from the refetched set.
    await expectError(await signIn(await token(old)), 401, "invalid_credentials");
  });
});
