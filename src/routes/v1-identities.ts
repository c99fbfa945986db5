/**
 * Sign in with Apple, Google and any OpenID provider (API.md §13), under /v1/auth: the native
 * ID-token sign-in, the web code flow (authorize → provider → callback → the app's redirect_uri with
 * a one-time code → token), and the signed-in user's linked identities.
 *
 * The callback takes GET (query) and POST (Apple's form_post) with the provider's parameter names
 * as they are (snake_case), so it skips the body renaming of `limited`; it keeps the body limit.
 *
 * @example
 * v1.route("/", identityRoutes);
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { deps, router } from "../http";
import type { AppEnv } from "../http";
import { limitBody, limited, requireAuth } from "../http/middleware";
import * as identities from "../identities";
import { authenticate } from "../sessions";
import { tokenPair } from "./present";
import { OpaqueToken, Password, SecondFactorFields, TokenPair, Uuid, bearer, errorResponses, json, jsonContent } from "./schemas";
import { IdTokenBody, Identity, ProviderName } from "./signin-schemas";

const tags = ["v1", "identities"];

/** Authenticates the Bearer token when there is one (a guest upgrading); none is fine. */
const optionalAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization");
  if (header !== undefined) c.set("auth", await authenticate(deps(c), header));
  await next();
};

const ProviderParams = z.object({ provider: ProviderName.openapi({ param: { name: "provider", in: "path" } }) });
const CallbackParams = z
  .object({
    state: z.string().max(512).optional(),
    code: z.string().max(4096).optional(),
    error: z.string().max(256).optional(),
    error_description: z.string().max(1024).optional(),
    iss: z.string().max(1024).optional(),
    /** Apple's first answer: the user's name as JSON (not used: the ID token is the only source trusted). */
    user: z.string().max(4096).optional(),
  })
  .openapi("OAuthCallback");
const redirect = { 302: { description: "A redirect (Location)" } };

const present = (row: identities.IdentityView) => ({ ...row, createdAt: new Date(row.createdAt).toISOString() });

/** The callback's parameters as the provider named them, for oauth4webapi. */
function callbackParameters(values: Record<string, string | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined && key !== "user") params.set(key, value);
  return params;
}

export const identityRoutes = router()
  .openapi(
    createRoute({
      method: "post", path: "/id-token", tags, operationId: "signInWithIdToken", security: [...bearer, {}],
      middleware: limited("login", optionalAuth),
      summary: "Sign in with a provider's ID token (native flow); a guest's Bearer token upgrades it in place",
      request: { body: json(IdTokenBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session (or the upgraded guest's)"), ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    }),
    async (c) => c.json(tokenPair(await identities.signInWithIdToken(deps(c), c.get("auth"), c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "get", path: "/oauth/{provider}/authorize", tags, operationId: "startOAuthSignIn",
      summary: "Start the web sign-in: 302 to the provider (code flow, PKCE S256, server-side state for 10 minutes)",
      request: {
        params: ProviderParams,
        query: z.object({ redirect_uri: z.string().min(1).max(2048), state: z.string().max(512).optional() }),
      },
      responses: { ...redirect, ...errorResponses(400, 404, 503) },
    }),
    async (c) => {
      const d = deps(c);
      const query = c.req.valid("query");
      const provider = identities.requireProvider(d, c.req.valid("param").provider);
      return c.redirect(await identities.authorizationUrl(d, provider, query.redirect_uri, query.state), 302);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/oauth/{provider}/callback", tags, operationId: "oauthCallback",
      summary: "The provider's answer: 302 to the app's redirect_uri with a one-time code (60 s) or an error, and its state",
      request: { params: ProviderParams, query: CallbackParams },
      responses: { ...redirect, ...errorResponses(400, 404) },
    }),
    async (c) => {
      const d = deps(c);
      const provider = identities.requireProvider(d, c.req.valid("param").provider);
      return c.redirect(await identities.completeCallback(d, provider, callbackParameters(c.req.valid("query"))), 302);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/oauth/{provider}/callback", tags, operationId: "oauthFormPostCallback", middleware: [limitBody],
      summary: "The provider's answer by form_post (Apple): as the GET callback",
      request: { params: ProviderParams, body: { content: { "application/x-www-form-urlencoded": { schema: CallbackParams } }, required: true } },
      responses: { ...redirect, ...errorResponses(400, 404, 413) },
    }),
    async (c) => {
      const d = deps(c);
      const provider = identities.requireProvider(d, c.req.valid("param").provider);
      // 303: the browser follows with a GET, whatever method brought it here.
      return c.redirect(await identities.completeCallback(d, provider, callbackParameters(c.req.valid("form"))), 303);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/oauth/token", tags, operationId: "exchangeOAuthCode", security: [...bearer, {}],
      middleware: limited("login", optionalAuth),
      summary: "Exchange the one-time code from the callback for a TokenPair; a guest's Bearer token upgrades it in place",
      request: { body: json(z.object({ code: OpaqueToken }).openapi("OAuthCodeBody")) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session (or the upgraded guest's)"), ...errorResponses(400, 401, 403, 409, 429) },
    }),
    async (c) => c.json(tokenPair(await identities.exchangeCode(deps(c), c.get("auth"), c.req.valid("json").code)), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/identities", tags, operationId: "linkIdentity", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Link a provider identity (proved by its ID token) to the signed-in account",
      request: { body: json(IdTokenBody) },
      responses: { 201: jsonContent(z.object({ identity: Identity }), "The linked identity"), ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    }),
    async (c) => c.json({ identity: present(await identities.linkIdentity(deps(c), c.get("auth"), c.req.valid("json"))) }, 201),
  )
  .openapi(
    createRoute({
      method: "get", path: "/identities", tags, operationId: "listIdentities", security: bearer,
      middleware: limited("sessions", requireAuth),
      summary: "The signed-in account's linked identities",
      responses: { 200: jsonContent(z.object({ identities: z.array(Identity) }), "Identities, oldest first"), ...errorResponses(401, 429) },
    }),
    async (c) => c.json({ identities: (await identities.listIdentities(deps(c), c.get("auth"))).map(present) }, 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/identities/{identityId}", tags, operationId: "unlinkIdentity", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Unlink an identity (password or a recent sign-in required); 409 when it is the last way to sign in",
      request: {
        params: z.object({ identityId: Uuid.openapi({ param: { name: "identityId", in: "path" } }) }),
        body: { content: { "application/json": { schema: z.object({ password: Password.optional(), ...SecondFactorFields }) } }, required: false },
      },
      responses: { 204: { description: "Unlinked" }, ...errorResponses(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const body = /json/i.test(c.req.header("content-type") ?? "") ? c.req.valid("json") : {};
      await identities.unlinkIdentity(deps(c), c.get("auth"), c.req.valid("param").identityId, body);
      return c.body(null, 204);
    },
  );
