/**
 * The web sign-in (API.md §13): the authorization code flow with PKCE S256 through oauth4webapi.
 *
 * 1. `authorizationUrl`: checks the app's redirect_uri against REDIRECT_ORIGINS, keeps the state's
 *    SHA-256, the PKCE verifier, the nonce and the redirect_uri server-side (10 minutes), and gives
 *    the provider's URL.
 * 2. `completeCallback`: spends the state (DELETE … RETURNING: single use), exchanges the provider's
 *    code, checks the ID token like the native flow, and hands the app a one-time code of ours (60 s,
 *    stored by SHA-256) on its redirect_uri. None of our tokens ever travels in a URL.
 * 3. `redeemCode`: spends that code (single use) for the identity it stands for.
 *
 * Apple answers by form_post and authenticates the service with an ES256 client-secret JWT signed
 * from OIDC_SECRET_APPLE (a PKCS8 PEM) with `teamId` and `keyId`.
 *
 * @example
 * const url = await authorizationUrl(deps, provider, "https://app.example.com/cb", "xyz");
 * const back = await completeCallback(deps, provider, params); // redirect_uri?code=…&state=xyz
 * const identity = await redeemCode(deps, code);
 */
import { and, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { SignJWT, importPKCS8 } from "jose";
import * as oauth from "oauth4webapi";
import { randomToken, sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { log } from "../http/log";
import { serviceBase } from "../mail/links";
import { providerMetadata, verifyIdToken } from "./id-token";
import type { VerifiedIdentity } from "./id-token";
import type { Provider } from "./providers";
import { oauthCodes, oauthStates } from "./schema";

/** How long a started sign-in waits for the provider's answer. */
export const STATE_TTL_MS = 10 * 60_000;
/** How long the app has to exchange our one-time code. */
export const CODE_TTL_MS = 60_000;

const secretOf = (deps: Deps, provider: Provider): string | undefined => {
  const value = (deps.env as unknown as Record<string, unknown>)[provider.secretName];
  return typeof value === "string" && value !== "" ? value : undefined;
};

/** How the service authenticates to the provider's token endpoint; null when the web flow is not set up. */
async function clientAuth(deps: Deps, provider: Provider): Promise<oauth.ClientAuth | null> {
  const secret = secretOf(deps, provider);
  if (provider.kind === "apple") {
    if (!secret || !provider.teamId || !provider.keyId) return null;
    // Apple's client secret: a short-lived ES256 JWT from the team's private key.
    const key = await importPKCS8(secret.replaceAll("\\n", "\n"), "ES256");
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: provider.keyId })
      .setIssuer(provider.teamId)
      .setSubject(provider.clientIds[0]!)
      .setAudience(provider.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key);
    return oauth.ClientSecretPost(jwt);
  }
  if (provider.kind === "google") return secret ? oauth.ClientSecretPost(secret) : null;
  // Any other provider: a confidential client with its secret, or a public one with PKCE alone.
  return secret ? oauth.ClientSecretBasic(secret) : oauth.None();
}

/** Throws 404 unless the provider can run the web flow. */
export async function requireWebFlow(deps: Deps, provider: Provider): Promise<oauth.ClientAuth> {
  const auth = await clientAuth(deps, provider);
  if (!auth) throw new AuthError("not_found", "This provider is not set up for web sign-in");
  return auth;
}

/** Our callback for `provider`, as registered at the provider. */
export const callbackUrl = (deps: Deps, provider: Provider) =>
  `${serviceBase(deps.config, deps.origin)}/v1/auth/oauth/${provider.name}/callback`;

/** The app's redirect_uri when its origin is exactly one of REDIRECT_ORIGINS (https, or http in development). */
export function allowedRedirect(deps: Deps, value: string): URL {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  const ok =
    url !== null &&
    (url.protocol === "https:" || (deps.config.isDevelopment && url.protocol === "http:")) &&
    !url.username && !url.password && !url.hash && !value.includes("#") &&
    deps.config.redirectOrigins.includes(url.origin);
  if (!ok) throw invalidRequest("redirect_uri", "must be on an allowed origin");
  return url!;
}

const oauthClient = (provider: Provider): oauth.Client => ({ client_id: provider.clientIds[0]! });
const insecureOk = (deps: Deps) => ({ [oauth.allowInsecureRequests]: deps.config.isDevelopment });

/** Starts a sign-in: stores its state server-side and returns the provider's authorization URL. */
export async function authorizationUrl(deps: Deps, provider: Provider, redirectUri: string, clientState: string | undefined): Promise<string> {
  const redirect = allowedRedirect(deps, redirectUri);
  await requireWebFlow(deps, provider);
  const as = await providerMetadata(deps, provider);
  if (!as.authorization_endpoint) throw new AuthError("unavailable", "The identity provider has no authorization endpoint", undefined, 5);
  const state = oauth.generateRandomState();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const nonce = oauth.generateRandomNonce();
  const now = Date.now();
  await drizzle(deps.env.DB)
    .insert(oauthStates)
    .values({
      stateHash: await sha256(state),
      provider: provider.name,
      codeVerifier,
      nonce,
      redirectUri: redirect.href,
      clientState: clientState ?? null,
      createdAt: now,
      expiresAt: now + STATE_TTL_MS,
    });
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", provider.clientIds[0]!);
  url.searchParams.set("redirect_uri", callbackUrl(deps, provider));
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", provider.scopes.join(" "));
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  // Apple posts its answer when scopes are asked for; any provider may, so always ask for form_post there.
  if (provider.kind === "apple") url.searchParams.set("response_mode", "form_post");
  return url.href;
}

/** OAuth error codes passed through to the app; anything else becomes access_denied. */
const PASSED_ERRORS = new Set(["access_denied", "login_required", "consent_required", "interaction_required", "temporarily_unavailable"]);

/**
 * Finishes a sign-in at our callback (query or form_post parameters) and returns where to send the
 * browser: the app's redirect_uri with `code` (ours, one-time) or `error`, and its `state`. A missing,
 * unknown, spent or expired state is a 400: there is no trusted redirect_uri to send it to.
 */
export async function completeCallback(deps: Deps, provider: Provider, params: URLSearchParams): Promise<string> {
  const state = params.get("state");
  if (!state) throw invalidRequest("state", "is required");
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const [row] = await db
    .delete(oauthStates)
    .where(and(eq(oauthStates.stateHash, await sha256(state)), eq(oauthStates.provider, provider.name), gt(oauthStates.expiresAt, now)))
    .returning();
  if (!row) throw invalidRequest("state", "is unknown or expired; start the sign-in again");
  const back = (answer: Record<string, string>) => {
    const url = new URL(row.redirectUri);
    for (const [key, value] of Object.entries(answer)) url.searchParams.set(key, value);
    if (row.clientState !== null) url.searchParams.set("state", row.clientState);
    return url.href;
  };
  const providerError = params.get("error");
  if (providerError) return back({ error: PASSED_ERRORS.has(providerError) ? providerError : "access_denied" });

  let identity: VerifiedIdentity;
  try {
    const as = await providerMetadata(deps, provider);
    const client = oauthClient(provider);
    const checked = oauth.validateAuthResponse(as, client, params, state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, await requireWebFlow(deps, provider), checked, callbackUrl(deps, provider), row.codeVerifier, {
      signal: AbortSignal.timeout(10_000),
      ...insecureOk(deps),
    });
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: row.nonce, requireIdToken: true });
    // oauth4webapi checked the claims; jose checks the signature too, by the same rules as the native flow.
    identity = await verifyIdToken(deps, provider, tokens.id_token!, row.nonce);
  } catch (error) {
    // The reason goes to the log (no token or code in it: class and code only), not to the app.
    log("warn", "oidc.callback_failed", {
      requestId: deps.requestId,
      provider: provider.name,
      reason: error instanceof AuthError ? error.code : error instanceof Error ? `${error.name}:${(error as { code?: string }).code ?? ""}` : "unknown",
    });
    return back({ error: error instanceof AuthError && error.code === "unavailable" ? "temporarily_unavailable" : "access_denied" });
  }
  const code = randomToken();
  await db.insert(oauthCodes).values({
    codeHash: await sha256(code),
    provider: identity.provider,
    subject: identity.subject,
    email: identity.email,
    emailVerified: identity.emailVerified,
    createdAt: now,
    expiresAt: now + CODE_TTL_MS,
  });
  return back({ code });
}

/** Spends our one-time code (single use, 60 s); 401 `invalid_credentials` when unknown, spent or expired. */
export async function redeemCode(deps: Deps, code: string): Promise<VerifiedIdentity> {
  const [row] = await drizzle(deps.env.DB)
    .delete(oauthCodes)
    .where(and(eq(oauthCodes.codeHash, await sha256(code)), gt(oauthCodes.expiresAt, Date.now())))
    .returning();
  if (!row) throw new AuthError("invalid_credentials", "The code is unknown, used or expired");
  return { provider: row.provider, subject: row.subject, email: row.email, emailVerified: row.emailVerified };
}
