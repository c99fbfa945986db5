/**
 * Validly signed tokens that are still wrong (ASVS 9.2.x, 10.3.x): missing or wrong claims, the
 * wrong `typ`, expired or not yet valid, a token of the wrong kind, or one in the wrong place. Every
 * bearer route answers 401 with the §5 body and `WWW-Authenticate: Bearer`.
 */
import * as jose from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { accessClaims, apiRoutes, call, env, expectError, guest, serviceSigningKey, signToken } from "../helpers";
import type { Json, TokenSubject } from "../helpers";

let ROUTES: { method: string; path: string }[] = [];

let victim: Json;
let subject: TokenSubject;

beforeAll(async () => {
  ROUTES = (await apiRoutes()).filter((r) => r.bearer);
  expect(ROUTES.length).toBeGreaterThanOrEqual(11);
  victim = await guest();
  subject = { userId: victim.user.id, sessionId: victim.sessionId, role: "guest" };
});

async function expectRejected(headers: Record<string, string>, query = "") {
  const outcomes = await Promise.all(
    ROUTES.map(async ({ method, path }) => {
      const url = path.replace(/\{[^}]+\}/g, () => crypto.randomUUID()) + query;
      const response = await call(url, { method, headers, ...(method === "POST" ? { body: {} } : {}) });
      const text = await response.text();
      const body = text.startsWith("{") ? JSON.parse(text) : { text };
      return {
        route: `${method} ${path}`,
        status: response.status,
        error: body.error,
        statusCode: body.statusCode,
        challenge: /^Bearer\b/.test(response.headers.get("www-authenticate") ?? ""),
      };
    }),
  );
  expect(outcomes).toEqual(
    ROUTES.map(({ method, path }) => ({ route: `${method} ${path}`, status: 401, error: "invalid_token", statusCode: 401, challenge: true })),
  );
}

async function signed(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const { kid } = await serviceSigningKey();
  return `Bearer ${await signToken({ alg: "ES256", kid, typ: "JWT", ...header }, claims)}`;
}

const without = (name: string) => {
  const { [name]: _gone, ...rest } = accessClaims(subject);
  return rest;
};

describe("claims", () => {
  for (const claim of ["exp", "iss", "aud", "sub", "sid", "iat", "jti", "role"]) {
    it(`rejects a validly signed token without ${claim}`, async () => {
      await expectRejected({ authorization: await signed(without(claim)) });
    });
  }

  const wrong: [string, Record<string, unknown>][] = [
    ["another issuer", { iss: "https://attacker.example" }],
    ["an issuer differing in case", { iss: env.JWT_ISSUER.toUpperCase() }],
    ["another audience", { aud: "someone-else" }],
    ["an audience list without ours", { aud: ["someone-else", "another"] }],
    ["a sub that is not a UUID", { sub: "' OR 1=1 --" }],
    ["a sid of no session", { sid: crypto.randomUUID() }],
    ["a sub that does not own the sid", { sub: crypto.randomUUID() }],
    ["a role the service does not know", { role: "admin" }],
    ["exp as a string", { exp: String(Math.floor(Date.now() / 1000) + 3600) }],
    ["exp in the past", { exp: Math.floor(Date.now() / 1000) - 60 }],
    ["nbf in the future", { nbf: Math.floor(Date.now() / 1000) + 600 }],
  ];
  for (const [label, change] of wrong) {
    it(`rejects a validly signed token with ${label}`, async () => {
      await expectRejected({ authorization: await signed({ ...accessClaims(subject), ...change }) });
    });
  }
});

describe("typ", () => {
  for (const typ of ["at+jwt", "application/at+jwt", "JWS", "jwt+refresh"]) {
    it(`rejects typ "${typ}"`, async () => {
      await expectRejected({ authorization: await signed(accessClaims(subject), { typ }) });
    });
  }

  it("rejects a token without typ", async () => {
    const { kid } = await serviceSigningKey();
    await expectRejected({ authorization: `Bearer ${await signToken({ alg: "ES256", kid }, accessClaims(subject))}` });
  });
});

describe("the wrong kind of token, or the wrong place", () => {
  it("rejects a refresh token as a bearer token", async () => {
    await expectRejected({ authorization: `Bearer ${victim.refreshToken}` });
  });

  it("refuses an access token as a refresh token on every door, and the session stays live", async () => {
    for (const [path, body] of [
      ["/v1/auth/refresh", { refreshToken: victim.accessToken }],
      ["/auth/refresh-token", { refreshToken: victim.accessToken }],
      ["/auth/refresh", { access_token: victim.accessToken, refresh_token: victim.accessToken }],
    ] as const) {
      const response = await call(path, { body });
      const error = await expectError(response, 401, "invalid_token");
      expect(JSON.stringify(error)).not.toContain(victim.accessToken);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
    }
    // Revoke ignores tokens it does not know (API.md §3) and must not end the session either.
    expect((await call("/v1/auth/revoke", { body: { refreshToken: victim.accessToken } })).status).toBe(204);
    expect((await call("/v1/auth/me", { token: victim.accessToken })).status).toBe(200);
  });

  it("ignores a valid token in the query string", async () => {
    for (const name of ["access_token", "token", "authorization", "jwt"]) {
      await expectRejected({}, `?${name}=${encodeURIComponent(victim.accessToken)}`);
    }
  });

  it("ignores a valid token in a cookie or another header", async () => {
    await expectRejected({ cookie: `access_token=${victim.accessToken}; token=${victim.accessToken}` });
    await expectRejected({ "x-access-token": victim.accessToken, "x-auth-token": victim.accessToken });
  });

  it("rejects other schemes and malformed Authorization values", async () => {
    for (const authorization of [
      `Basic ${victim.accessToken}`,
      `Token ${victim.accessToken}`,
      `Bearer${victim.accessToken}`,
      `Bearer ${victim.accessToken} extra`,
      `Bearer ${victim.accessToken},Bearer ${victim.accessToken}`,
      `Bearer "${victim.accessToken}"`,
      "Bearer",
      "Bearer ",
      "",
    ]) {
      await expectRejected({ authorization });
    }
  });
});

describe("revoked sessions", () => {
  it("rejects a still-unexpired token of a revoked session at once", async () => {
    const other = await guest();
    expect((await call("/v1/auth/revoke", { body: { refreshToken: other.refreshToken } })).status).toBe(204);
    await expectRejected({ authorization: `Bearer ${other.accessToken}` });
  });
});

describe("document 000's refresh, which takes the access token in its body", () => {
  const refresh000 = (accessToken: unknown, refreshToken = victim.refreshToken) =>
    call("/auth/refresh", { body: { access_token: accessToken, refresh_token: refreshToken } });

  it("refuses forged, foreign or wrong-kind access tokens beside a valid refresh token", async () => {
    const { kid, jwk } = await serviceSigningKey();
    const { d: _d, ...publicJwk } = jwk;
    const pem = await jose.exportSPKI((await jose.importJWK({ ...publicJwk, alg: "ES256" }, "ES256")) as CryptoKey);
    const attacker = await jose.generateKeyPair("ES256", { extractable: true });
    const claims = accessClaims(subject);
    const forged = [
      await signToken({ alg: "none", kid, typ: "JWT" }, claims, "none"),
      await signToken({ alg: "HS256", kid, typ: "JWT" }, claims, new TextEncoder().encode(pem)),
      await signToken({ alg: "HS256", kid, typ: "JWT" }, claims, new TextEncoder().encode(JSON.stringify(publicJwk))),
      await signToken({ alg: "ES256", typ: "JWT", jwk: await jose.exportJWK(attacker.publicKey) }, claims, attacker.privateKey),
      await signToken({ alg: "ES256", kid, typ: "JWT" }, claims, attacker.privateKey),
      await signToken({ alg: "ES256", kid, typ: "at+jwt" }, claims),
      await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims, aud: "someone-else" }),
      await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims, iss: "someone-else" }),
      await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims, sid: crypto.randomUUID() }),
      (await guest()).accessToken,
      victim.refreshToken,
    ];
    for (const accessToken of forged) {
      const response = await refresh000(accessToken);
      await expectError(response, 401, "invalid_token");
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
    }
    // None of them rotated the refresh token: it still works, once.
    const rotated = await call("/v1/auth/refresh", { body: { refreshToken: victim.refreshToken } });
    expect(rotated.status).toBe(200);
    victim = await rotated.json();
  });
});

describe("the attacks above", () => {
  it("left the victim's session working", async () => {
    expect((await call("/v1/auth/me", { token: victim.accessToken })).status).toBe(200);
  });
});
