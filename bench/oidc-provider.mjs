/**
 * A loopback OpenID provider for the bench's ID-token scenario: a real HTTP server with the
 * discovery document and the JWKS (API.md §13 finds any provider but Apple and Google by discovery),
 * and RS256 ID tokens (as Google and Apple sign theirs) minted for the bench's clients. The service
 * fetches discovery and keys once and caches them; each sign-in then checks a token locally.
 *
 * @example
 * import { startProvider } from "./oidc-provider.mjs";
 * const provider = await startProvider(8788, "bench-client");
 * const idToken = provider.idToken({ sub: "user-1", email: "user-1@example.com" });
 * await provider.close();
 */
import { createSign, generateKeyPairSync, randomUUID } from "node:crypto";
import http from "node:http";

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** Starts the provider on 127.0.0.1:`port`; `clientId` is the audience of its tokens. */
export async function startProvider(port, clientId) {
  const issuer = `http://127.0.0.1:${port}`;
  const kid = `bench-${randomUUID().slice(0, 8)}`;
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwks = { keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] };
  const discovery = {
    issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`,
    response_types_supported: ["code", "id_token"], subject_types_supported: ["public"], id_token_signing_alg_values_supported: ["RS256"],
  };
  let fetches = 0;
  const server = http.createServer((req, res) => {
    const body = req.url === "/.well-known/openid-configuration" ? discovery : req.url === "/jwks" ? jwks : undefined;
    fetches++;
    res.writeHead(body ? 200 : 404, { "content-type": "application/json", "cache-control": "max-age=3600" });
    res.end(JSON.stringify(body ?? { error: "not_found" }));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    issuer,
    /** How many documents the service fetched: a handful for a whole run when it caches. */
    get fetches() {
      return fetches;
    },
    /** A fresh ID token (valid 10 minutes) for `claims` (sub, email, ...). */
    idToken(claims) {
      const now = Math.floor(Date.now() / 1000);
      const input = `${b64url({ alg: "RS256", typ: "JWT", kid })}.${b64url({ iss: issuer, aud: clientId, iat: now, exp: now + 600, email_verified: true, ...claims })}`;
      return `${input}.${createSign("RSA-SHA256").update(input).sign(privateKey, "base64url")}`;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
