/**
 * Vitest globalSetup (runs in Node, plain JavaScript): real OpenID Providers on 127.0.0.1, built
 * with panva's `oidc-provider`, for the identity tests (API.md §13). Two issuers:
 *
 * - "main" (`loopback` in OIDC_PROVIDERS, and the `apple` and `google` presets with their URLs
 *   overridden to it): static clients, a login page at /interaction/:uid whose form names the
 *   account to sign in (sub, email, email_verified) and grants consent at once, so a plain HTTP
 *   client following redirects, or Chromium, completes the code flow. Apple's client is checked
 *   like Apple does: its client_secret must be an ES256 JWT signed by the team key (iss teamId,
 *   sub client id, aud issuer, kid keyId), verified here before the provider sees the request.
 * - "rotating" (`rotating` in OIDC_PROVIDERS): for the key-rotation and JWKS-refetch tests.
 *
 * Test-only endpoints on each: GET /_test/signing-key (the current private RSA JWK, which the
 * provider's jwks_uri publishes, so tests can mint ID tokens for the native flow), POST
 * /_test/rotate (a new current key; the old one stays published unless `?drop=1`), GET
 * /_test/stats (how often /jwks was fetched), GET /_test/app (a stand-in app page for redirect_uri).
 *
 * The workers project's ports and the Apple key are fixed by `prepareOidcTest()` (called in
 * vitest.config.ts, because the Worker's bindings name the issuers before any globalSetup runs) and
 * handed over in process.env.OIDC_TEST_SETUP; the browser project starts its own issuers on free
 * ports. Tests get `inject("oidc")`.
 *
 * @example
 * // vitest.config.ts
 * const oidc = await prepareOidcTest(); // { bindings, setup }
 * miniflare.bindings = { ...oidc.bindings }; test.globalSetup = ["./scripts/oidc-provider-server.mjs"];
 */
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, jwtVerify } from "jose";
import Provider from "oidc-provider";
import { freePort, listenLoopback, readBody, replier } from "./loopback-server.mjs";

export const CLIENTS = {
  web: { id: "loopback-web", secret: "loopback-web-secret-0123456789abcdef" },
  native: { id: "loopback-native" },
  apple: { id: "com.example.apple-web", native: "com.example.apple-app", teamId: "TEAM123456", keyId: "APPLEKEY01", staticSecret: "apple-static-secret-0123456789abcdef" },
  google: { id: "google-web.apps.googleusercontent.com", native: "google-android.apps.googleusercontent.com", secret: "google-web-secret-0123456789abcdef" },
  rotating: { id: "rotating-native" },
};

/**
 * Our callbacks: the workers project's PUBLIC_URL, and 127.0.0.1 on any port (the browser project's
 * `wrangler dev` picks its port after this starts; see `allowAnyLoopbackPort`).
 */
const callbacks = (name) => [`http://auth.test/v1/auth/oauth/${name}/callback`, `http://127.0.0.1/v1/auth/oauth/${name}/callback`, `http://localhost/v1/auth/oauth/${name}/callback`];

/** Lets a registered http://127.0.0.1 redirect_uri match on any port, as RFC 8252 §7.3 does for native apps. */
function allowAnyLoopbackPort(provider) {
  const prototype = provider.Client.prototype;
  const registered = prototype.redirectUriAllowed;
  prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (registered.call(this, value)) return true;
    const url = URL.canParse(value) ? new URL(value) : null;
    if (!url || url.hostname !== "127.0.0.1") return false;
    url.port = "";
    return registered.call(this, url.href);
  };
}

async function rsaKey() {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: `test-${crypto.randomUUID().slice(0, 8)}`, alg: "RS256", use: "sig" };
}

/**
 * Picks the ports and Apple's team key; returns the Worker bindings (OIDC_PROVIDERS, the secrets)
 * for a service whose callbacks live at `publicUrl`, and stores what the global setup needs.
 */
export async function prepareOidcTest() {
  const [mainPort, rotatingPort] = [await freePort(), await freePort()];
  const main = `http://127.0.0.1:${mainPort}`;
  const rotating = `http://127.0.0.1:${rotatingPort}`;
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const overridden = { issuer: main, authorizationEndpoint: `${main}/auth`, tokenEndpoint: `${main}/token`, jwksUri: `${main}/jwks` };
  const providers = {
    loopback: { clientIds: [CLIENTS.web.id, CLIENTS.native.id], issuer: main },
    rotating: { clientIds: [CLIENTS.rotating.id], issuer: rotating },
    apple: { clientIds: [CLIENTS.apple.id, CLIENTS.apple.native], teamId: CLIENTS.apple.teamId, keyId: CLIENTS.apple.keyId, scopes: ["openid", "email"], ...overridden },
    google: { clientIds: [CLIENTS.google.id, CLIENTS.google.native], ...overridden },
  };
  const setup = { mainPort, rotatingPort, applePublicKey: await exportJWK(publicKey) };
  process.env.OIDC_TEST_SETUP = JSON.stringify(setup);
  const bindings = {
    OIDC_PROVIDERS: JSON.stringify(providers),
    OIDC_SECRET_LOOPBACK: CLIENTS.web.secret,
    OIDC_SECRET_GOOGLE: CLIENTS.google.secret,
    OIDC_SECRET_APPLE: await exportPKCS8(privateKey),
    // Tests sign in and rotate keys back to back: refetch on every unknown kid.
    OIDC_JWKS_COOLDOWN_SECONDS: "0",
  };
  return { bindings, setup, issuers: { main, rotating } };
}

const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function loginPage(uid, clientId) {
  return `<!doctype html><html><head><title>Test provider sign-in</title></head><body>
<h1>Sign in to the test provider</h1><p>for ${escapeHtml(clientId)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Subject <input name="sub" required></label>
<label>Email <input name="email"></label>
<label><input type="checkbox" name="email_verified" value="true"> verified</label>
<button type="submit">Continue</button></form></body></html>`;
}

/** One issuer: an oidc-provider behind a small Node handler that adds the test endpoints. */
async function startIssuer(port, { appleKey }) {
  const issuer = `http://127.0.0.1:${port}`;
  /** sub → { email, email_verified } as the login form named them. */
  const accounts = new Map();
  let keys = [await rsaKey()];
  let jwksFetches = 0;

  const build = () => {
    const provider = new Provider(issuer, {
      clients: [
        { client_id: CLIENTS.web.id, client_secret: CLIENTS.web.secret, redirect_uris: callbacks("loopback"), token_endpoint_auth_method: "client_secret_basic" },
        { client_id: CLIENTS.apple.id, client_secret: CLIENTS.apple.staticSecret, redirect_uris: callbacks("apple"), token_endpoint_auth_method: "client_secret_post" },
        { client_id: CLIENTS.google.id, client_secret: CLIENTS.google.secret, redirect_uris: callbacks("google"), token_endpoint_auth_method: "client_secret_post" },
      ],
      jwks: { keys },
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => {
          const account = accounts.get(sub);
          return account?.email ? { sub, email: account.email, email_verified: account.email_verified } : { sub };
        },
      }),
      claims: { openid: ["sub"], email: ["email", "email_verified"] },
      // Scope claims in the ID token itself, as Google and Apple do.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      responseTypes: ["code"],
      ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
      cookies: { keys: ["oidc-test-cookie-key-0123456789"] },
      // Keep the answers of oidc-provider quiet in the test output.
      renderError: (ctx, out) => {
        ctx.type = "json";
        ctx.body = out;
      },
    });
    allowAnyLoopbackPort(provider);
    provider.on("server_error", (_ctx, error) => console.error("oidc test provider:", error));
    return provider;
  };
  let provider = build();
  let handler = provider.callback();

  /** Apple's client_secret must be the team's ES256 JWT; then the provider sees its static secret. */
  async function checkAppleSecret(request, body) {
    const params = new URLSearchParams(body);
    if (params.get("client_id") !== CLIENTS.apple.id) return body;
    const { payload, protectedHeader } = await jwtVerify(params.get("client_secret") ?? "", await importJWK(appleKey, "ES256"), {
      algorithms: ["ES256"], issuer: CLIENTS.apple.teamId, subject: CLIENTS.apple.id, audience: issuer, requiredClaims: ["iat", "exp"],
    });
    if (protectedHeader.kid !== CLIENTS.apple.keyId || payload.exp - payload.iat > 15_777_000) throw new Error("bad client secret header or lifetime");
    params.set("client_secret", CLIENTS.apple.staticSecret);
    return params.toString();
  }

  async function handle(request, response) {
    const url = new URL(request.url ?? "/", issuer);
    const reply = replier(response, { "cache-control": "no-store" });
    if (url.pathname === "/_test/signing-key") return reply(200, { key: keys[0] });
    if (url.pathname === "/_test/stats") return reply(200, { jwksFetches });
    if (url.pathname === "/_test/app") return reply(200, `<!doctype html><title>App</title><p id="query">${escapeHtml(url.search)}</p>`, "text/html");
    if (url.pathname === "/_test/rotate" && request.method === "POST") {
      const key = await rsaKey();
      keys = url.searchParams.get("drop") ? [key] : [key, ...keys];
      provider = build();
      handler = provider.callback();
      return reply(200, { key });
    }
    const interaction = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (interaction) {
      const details = await provider.interactionDetails(request, response);
      if (!interaction[2]) return reply(200, loginPage(details.uid, details.params.client_id), "text/html");
      const form = new URLSearchParams((await readBody(request)).toString("utf8"));
      const sub = form.get("sub");
      if (!sub) return reply(400, { error: "sub is required" });
      accounts.set(sub, { email: form.get("email") || undefined, email_verified: form.get("email_verified") === "true" });
      const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      return provider.interactionFinished(request, response, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    if (url.pathname === "/jwks") jwksFetches += 1;
    if (url.pathname === "/token" && request.method === "POST") {
      try {
        request.body = await checkAppleSecret(request, (await readBody(request)).toString("utf8"));
      } catch {
        return reply(401, { error: "invalid_client", error_description: "client secret JWT refused" });
      }
    }
    return handler(request, response);
  }

  const server = await listenLoopback(handle, { port, onError: (error) => console.error("oidc test server:", error) });
  return server.close;
}

/**
 * Starts the issuers of one project: the workers project's on the ports prepareOidcTest() fixed
 * (its bindings name them); the browser project's on ports the system hands out, named to its
 * `wrangler dev` through OIDC_TEST_WRANGLER_VARS (scripts/browser-test-service.mjs runs after this).
 * Each project has its own issuers and stops them itself.
 *
 * @param {import("vitest/node").TestProject} project
 */
export default async function setup(project) {
  const raw = process.env.OIDC_TEST_SETUP;
  if (!raw) throw new Error("OIDC_TEST_SETUP is missing: call prepareOidcTest() in vitest.config.ts");
  const prepared = JSON.parse(raw);
  // The browser and sdk projects start their Worker with wrangler after this: free ports, named to it.
  const browser = project.name === "browser" || project.name === "sdk";
  const [mainPort, rotatingPort] = browser ? [await freePort(), await freePort()] : [prepared.mainPort, prepared.rotatingPort];
  const stops = [
    await startIssuer(mainPort, { appleKey: prepared.applePublicKey }),
    await startIssuer(rotatingPort, { appleKey: prepared.applePublicKey }),
  ];
  const issuer = `http://127.0.0.1:${mainPort}`;
  if (browser) {
    // The loopback provider, and the main issuer's /_test/app page as the app's redirect_uri.
    process.env.OIDC_TEST_WRANGLER_VARS = JSON.stringify({
      OIDC_PROVIDERS: JSON.stringify({ loopback: { clientIds: [CLIENTS.web.id, CLIENTS.native.id], issuer } }),
      OIDC_SECRET_LOOPBACK: CLIENTS.web.secret,
      REDIRECT_ORIGINS: issuer,
    });
  }
  project.provide("oidc", { issuer, rotatingIssuer: `http://127.0.0.1:${rotatingPort}`, clients: CLIENTS });
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
