/**
 * Passkeys under /v1/auth/passkeys (API.md §12): registration (any signed-in account, guests too),
 * list, rename, remove, and discoverable sign-in. Options and responses are WebAuthn's standard
 * JSON forms (PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON, …), so a browser's
 * `PublicKeyCredential.parseCreationOptionsFromJSON` and `credential.toJSON()` fit them as they are.
 *
 * @example
 * app.route("/v1/auth", v1Passkeys);
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { deps, router } from "../http";
import { limited, requireAuth } from "../http/middleware";
import * as passkeys from "../passkeys";
import * as passkeyLogin from "../passkeys/login";
import { tokenPair } from "./present";
import { Password, SecondFactorFields, TokenPair, bearer, errorResponses, json, jsonContent } from "./schemas";
import { Passkey, PasskeyBody, PasskeyLoginBody, PasskeyName, PasskeyOptions, PasskeyParams, PasskeyRegisterBody } from "./signin-schemas";

const tags = ["v1"];
export const v1Passkeys = router()
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/register/options", tags, operationId: "passkeyRegistrationOptions", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Options for navigator.credentials.create (resident key, user verification, ES256/RS256)",
      responses: { 200: jsonContent(PasskeyOptions, "A challenge (5 minutes) and PublicKeyCredentialCreationOptionsJSON"), ...errorResponses(401, 409, 429) },
    }),
    async (c) => c.json(await passkeys.registrationOptions(deps(c), c.get("auth")), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/register", tags, operationId: "registerPasskey", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Register a passkey with the authenticator's RegistrationResponseJSON",
      request: { body: json(PasskeyRegisterBody) },
      responses: { 201: jsonContent(PasskeyBody, "The new passkey"), ...errorResponses(400, 401, 409, 429) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const response = body.response as unknown as RegistrationResponseJSON;
      return c.json({ passkey: await passkeys.registerPasskey(deps(c), c.get("auth"), { ...body, response }) }, 201);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/passkeys", tags, operationId: "listPasskeys", security: bearer, middleware: limited("sessions", requireAuth),
      summary: "The caller's passkeys",
      responses: { 200: jsonContent(z.object({ passkeys: z.array(Passkey) }), "Oldest first"), ...errorResponses(401, 429) },
    }),
    async (c) => c.json({ passkeys: await passkeys.listPasskeys(deps(c), c.get("auth")) }, 200),
  )
  .openapi(
    createRoute({
      method: "patch", path: "/passkeys/{passkeyId}", tags, operationId: "renamePasskey", security: bearer, middleware: limited("account", requireAuth),
      summary: "Rename one of the caller's passkeys",
      request: { params: PasskeyParams, body: json(z.object({ name: PasskeyName }).openapi("PasskeyRenameBody")) },
      responses: { 200: jsonContent(PasskeyBody, "The passkey"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json({ passkey: await passkeys.renamePasskey(deps(c), c.get("auth"), c.req.valid("param").passkeyId, c.req.valid("json").name) }, 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/passkeys/{passkeyId}", tags, operationId: "deletePasskey", security: bearer, middleware: limited("account", requireAuth),
      summary: "Remove one of the caller's passkeys (re-authentication; not the last way to sign in)",
      request: {
        params: PasskeyParams,
        body: { content: { "application/json": { schema: z.object({ password: Password.optional(), ...SecondFactorFields }).openapi("PasskeyDeleteBody") } }, required: false },
      },
      responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const body = (c.req.valid("json") ?? {}) as { password?: string; code?: string; recoveryCode?: string };
      await passkeys.removePasskey(deps(c), c.get("auth"), c.req.valid("param").passkeyId, body);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/login/options", tags, operationId: "passkeyLoginOptions", middleware: limited("login"),
      summary: "Options for navigator.credentials.get (discoverable credentials: no allow-list)",
      responses: { 200: jsonContent(PasskeyOptions, "A challenge (5 minutes) and PublicKeyCredentialRequestOptionsJSON"), ...errorResponses(429, 503) },
    }),
    async (c) => c.json(await passkeyLogin.loginOptions(deps(c)), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/login", tags, operationId: "passkeyLogin", middleware: limited("login"),
      summary: "Sign in with the authenticator's AuthenticationResponseJSON",
      request: { body: json(PasskeyLoginBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const response = body.response as unknown as AuthenticationResponseJSON;
      return c.json(tokenPair(await passkeyLogin.loginWithPasskey(deps(c), { challengeId: body.challengeId, response })), 200);
    },
  );
