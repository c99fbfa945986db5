/**
 * JWT attacks (RFC 8725 §2, ASVS V9) against every route that takes a bearer token: every forged,
 * damaged or misplaced token is a 401 with the §5 body and `WWW-Authenticate: Bearer`, never a 500,
 * and never has an effect. The routes come from /openapi.json (every operation with bearer
 * security), so a route added later is attacked too; the canonical ones are asserted to be there.
 */
import * as jose from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  PASSWORD, accessClaims, apiRoutes, call, forgeAccessToken, guest, json, serviceSigningKey, signToken,
} from "../helpers";
import type { Json, TokenSubject } from "../helpers";

interface BearerRoute {
  method: string;
  path: string;
}

const CANONICAL: BearerRoute[] = [
  { method: "GET", path: "/v1/auth/me" },
  { method: "POST", path: "/v1/auth/revoke-all" },
  { method: "POST", path: "/v1/auth/upgrade" },
  { method: "POST", path: "/v1/auth/change-password" },
  { method: "GET", path: "/v1/auth/sessions" },
  { method: "DELETE", path: "/v1/auth/sessions/{sessionId}" },
  // The compatibility doors (API.md §4) that take a bearer token.
  { method: "POST", path: "/auth/signout" },
  { method: "POST", path: "/auth/upgrade" },
  { method: "POST", path: "/auth/reset-password" },
  { method: "GET", path: "/auth/{userId}/sessions" },
  { method: "DELETE", path: "/auth/{sessionId}/sessions" },
];

/** A body every bearer route would accept, so that only the token decides the answer. */
const PLAUSIBLE_BODY = {
  email: "someone@example.com",
  username: "someone_else",
  password: PASSWORD,
  currentPassword: PASSWORD,
  newPassword: `${PASSWORD}-new`,
  oldPassword: PASSWORD,
};

let routes: BearerRoute[] = [];
let victim: Json;
let subject: TokenSubject;

beforeAll(async () => {
  routes = (await apiRoutes()).filter((r) => r.bearer).map(({ method, path }) => ({ method, path }));
  victim = await guest();
  subject = { userId: victim.user.id, sessionId: victim.sessionId, role: "guest" };
});

function send(route: BearerRoute, authorization: string | null, query = "") {
  const path = route.path.replace(/\{[^}]+\}/g, () => crypto.randomUUID()) + query;
  const headers: Record<string, string> = authorization === null ? {} : { authorization };
  const body = route.method === "POST" ? PLAUSIBLE_BODY : undefined;
  return call(path, { method: route.method, headers, ...(body ? { body } : {}) });
}

/** Sends `authorization` to every bearer route and expects a proper 401 from each. */
async function expectRejectedEverywhere(authorization: string | null, query = "") {
  const outcomes = await Promise.all(
    routes.map(async (route) => {
      const response = await send(route, authorization, query);
      const text = await response.text();
      let body: Json = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = text.slice(0, 120);
      }
      return {
        route: `${route.method} ${route.path}`,
        status: response.status,
        body: { statusCode: body?.statusCode, error: body?.error, message: typeof body?.message },
        challenge: /^Bearer\b/.test(response.headers.get("www-authenticate") ?? ""),
      };
    }),
  );
  expect(outcomes).toEqual(
    routes.map((route) => ({
      route: `${route.method} ${route.path}`,
      status: 401,
      body: { statusCode: 401, error: "invalid_token", message: "string" },
      challenge: true,
    })),
  );
}

const bearer = (token: string) => `Bearer ${token}`;

describe("the attacked routes", () => {
  it("include every bearer route of API.md §3 and §4", () => {
    for (const route of CANONICAL) expect(routes).toContainEqual(route);
  });

  it("accept a correctly forged token, so every rejection below is the attack's doing", async () => {
    const response = await call("/v1/auth/me", { token: await forgeAccessToken(subject) });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(subject.userId);
  });
});

describe("alg: none", () => {
  for (const alg of ["none", "None", "NONE", "nOnE"]) {
    it(`rejects alg "${alg}" with and without a signature`, async () => {
      const { kid } = await serviceSigningKey();
      const unsigned = await signToken({ alg, kid, typ: "JWT" }, accessClaims(subject), "none");
      await expectRejectedEverywhere(bearer(unsigned));
      // The real signature kept, only the header swapped.
      const real = (await forgeAccessToken(subject)).split(".")[2];
      await expectRejectedEverywhere(bearer(`${unsigned}${real}`));
    });
  }
});

describe("damaged tokens", () => {
  it("rejects a tampered payload under the original signature", async () => {
    const [header, , signature] = (await forgeAccessToken(subject)).split(".");
    const payload = jose.base64url.encode(JSON.stringify({ ...accessClaims(subject), role: "user" }));
    await expectRejectedEverywhere(bearer(`${header}.${payload}.${signature}`));
  });

  it("rejects a cut, emptied or borrowed signature", async () => {
    const token = await forgeAccessToken(subject);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    await expectRejectedEverywhere(bearer(token.slice(0, -4)));
    await expectRejectedEverywhere(bearer(`${header}.${payload}.`));
    await expectRejectedEverywhere(bearer(`${header}.${payload}`));
    await expectRejectedEverywhere(bearer(`${header}.${payload}.${signature.slice(0, 43)}`));
    const other = (await forgeAccessToken({ ...subject, sessionId: crypto.randomUUID() })).split(".")[2];
    await expectRejectedEverywhere(bearer(`${header}.${payload}.${other}`));
  });

  it("rejects tokens that are not three parts of JSON", async () => {
    const token = await forgeAccessToken(subject);
    await expectRejectedEverywhere(bearer(`${token}.${token.split(".")[2]}`));
    await expectRejectedEverywhere(bearer("a.b.c"));
    await expectRejectedEverywhere(bearer(`${jose.base64url.encode("[1,2]")}.${token.split(".")[1]}.${token.split(".")[2]}`));
    await expectRejectedEverywhere(bearer(`${jose.base64url.encode("null")}.${token.split(".")[1]}.${token.split(".")[2]}`));
    await expectRejectedEverywhere(bearer(`${token}${"A".repeat(5000)}`));
  });
});

describe("key confusion", () => {
  async function publicKeyForms() {
    const { jwk } = await serviceSigningKey();
    const { d: _d, ...publicJwk } = jwk;
    const key = (await jose.importJWK({ ...publicJwk, alg: "ES256" }, "ES256")) as CryptoKey;
    const pem = await jose.exportSPKI(key);
    const jwks = await json(await call("/.well-known/jwks.json"));
    const published = jwks.keys.find((k: Json) => k.kid === jwk.kid);
    const encoder = new TextEncoder();
    return {
      kid: jwk.kid as string,
      secrets: {
        "the public JWK as JSON": encoder.encode(JSON.stringify(publicJwk)),
        "the published JWK as JSON": encoder.encode(JSON.stringify(published)),
        "the PEM (SPKI) text": encoder.encode(pem),
        "the PEM without its trailing newline": encoder.encode(pem.trim()),
        "the DER (SPKI) bytes": new Uint8Array((await crypto.subtle.exportKey("spki", key)) as ArrayBuffer),
        "the raw point": new Uint8Array((await crypto.subtle.exportKey("raw", key)) as ArrayBuffer),
      },
    };
  }

  it("rejects HS256 tokens whose HMAC secret is the public key in any encoding", async () => {
    const { kid, secrets } = await publicKeyForms();
    for (const secret of Object.values(secrets)) {
      for (const alg of ["HS256", "hs256"]) {
        const token = await signToken({ alg, kid, typ: "JWT" }, accessClaims(subject), secret);
        await expectRejectedEverywhere(bearer(token));
      }
    }
  });

  it("rejects a token signed with an attacker's key under the service's kid, or under another alg", async () => {
    const { kid } = await serviceSigningKey();
    const attacker = await jose.generateKeyPair("ES256", { extractable: true });
    await expectRejectedEverywhere(bearer(await signToken({ alg: "ES256", kid, typ: "JWT" }, accessClaims(subject), attacker.privateKey)));
    // The service's own key, but the header claims an algorithm it does not use.
    for (const alg of ["ES384", "ES512", "RS256", "PS256", "EdDSA"]) {
      await expectRejectedEverywhere(bearer(await signToken({ alg, kid, typ: "JWT" }, accessClaims(subject))));
    }
  });
});

describe("kid", () => {
  const kids: [string, unknown][] = [
    ["unknown", "kid-that-was-never-published"],
    ["empty", ""],
    ["path traversal", "../../../../../../dev/null"],
    ["absolute path", "/etc/passwd"],
    ["SQL", "' OR '1'='1"],
    ["SQL union", "x' UNION SELECT 'secret' --"],
    ["NUL byte", "dev\u0000key"],
    ["URL", "https://attacker.example/key"],
    ["a number", 0],
    ["an object", { $ne: null }],
    ["null", null],
  ];
  for (const [label, kid] of kids) {
    it(`rejects a validly signed token with a kid that is ${label}`, async () => {
      await expectRejectedEverywhere(bearer(await signToken({ alg: "ES256", kid, typ: "JWT" }, accessClaims(subject))));
    });
  }

  it("rejects a validly signed token with no kid", async () => {
    await expectRejectedEverywhere(bearer(await signToken({ alg: "ES256", typ: "JWT" }, accessClaims(subject))));
  });

  it("rejects the service's signature under the previous key's kid", async () => {
    const jwks = await json(await call("/.well-known/jwks.json"));
    const { kid: current } = await serviceSigningKey();
    const previous = jwks.keys.find((k: Json) => k.kid !== current);
    expect(previous).toBeDefined();
    await expectRejectedEverywhere(bearer(await signToken({ alg: "ES256", kid: previous.kid, typ: "JWT" }, accessClaims(subject))));
  });
});

describe("keys named by the token itself (jku, x5u, jwk, x5c, crit)", () => {
  it("rejects the service's own valid signature when the header adds a key source", async () => {
    const { kid, jwk } = await serviceSigningKey();
    const { d: _d, ...publicJwk } = jwk;
    const extras: Record<string, unknown>[] = [
      { jku: "https://attacker.example/jwks.json" },
      { jku: "http://auth.test/.well-known/jwks.json" },
      { x5u: "https://attacker.example/cert.pem" },
      { x5c: ["MIIBkTCB+wIJAK"] },
      { jwk: publicJwk },
      { crit: ["exp"] },
      { b64: false, crit: ["b64"] },
    ];
    for (const extra of extras) {
      await expectRejectedEverywhere(bearer(await signToken({ alg: "ES256", kid, typ: "JWT", ...extra }, accessClaims(subject))));
    }
  });

  it("rejects a token signed with an attacker's key that it carries in its jwk header", async () => {
    const { kid } = await serviceSigningKey();
    const attacker = await jose.generateKeyPair("ES256", { extractable: true });
    const attackerJwk = await jose.exportJWK(attacker.publicKey);
    for (const header of [
      { alg: "ES256", typ: "JWT", jwk: attackerJwk },
      { alg: "ES256", typ: "JWT", kid, jwk: { ...attackerJwk, kid } },
      { alg: "ES256", typ: "JWT", kid: "attacker", jwk: { ...attackerJwk, kid: "attacker" } },
    ]) {
      await expectRejectedEverywhere(bearer(await signToken(header, accessClaims(subject), attacker.privateKey)));
    }
  });
});

describe("the session stays untouched", () => {
  it("still works after every attack above", async () => {
    const response = await call("/v1/auth/me", { token: victim.accessToken });
    expect(response.status).toBe(200);
    const sessions = await json(await call("/v1/auth/sessions", { token: victim.accessToken }));
    expect(sessions.sessions.map((s: Json) => s.id)).toEqual([victim.sessionId]);
  });
});
