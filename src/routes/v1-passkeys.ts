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
import { Password, TokenPair, Uuid, bearer, errorResponses, json, jsonContent } from "./schemas";

const tags = ["v1"];
const B64 = z.string().max(8192).regex(/^[A-Za-z0-9_-]*={0,2}$/, "must be base64url");

const Passkey = z
  .object({ id: z.string(), name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable(), backedUp: z.boolean() })
  .openapi("Passkey");
// No control characters or line separators: the name is shown in lists and activity, one line.
const PasskeyName = z.string().trim().min(1).max(64).regex(/^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/, "must not hold control characters");
const Options = z.object({ challengeId: z.string(), options: z.record(z.string(), z.unknown()) });

const RegistrationResponse = z
  .looseObject({
    id: B64,
    rawId: B64,
    type: z.literal("public-key"),
    response: z.looseObject({ clientDataJSON: B64, attestationObject: B64, transports: z.array(z.string().max(32)).max(10).optional() }),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .openapi("RegistrationResponseJSON");
const AuthenticationResponse = z
  .looseObject({
    id: B64,
    rawId: B64,
    type: z.literal("public-key"),
    response: z.looseObject({ clientDataJSON: B64, authenticatorData: B64, signature: B64, userHandle: B64.nullable().optional() }),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .openapi("AuthenticationResponseJSON");

const RegisterBody = z.object({ challengeId: Uuid, response: RegistrationResponse, name: PasskeyName.optional() }).openapi("PasskeyRegisterBody");
const LoginBody = z.object({ challengeId: Uuid, response: AuthenticationResponse }).openapi("PasskeyLoginBody");
const Params = z.object({ passkeyId: Uuid.openapi({ param: { name: "passkeyId", in: "path" } }) });
const PasskeyBody = z.object({ passkey: Passkey });

export const v1Passkeys = router()
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/register/options", tags, operationId: "passkeyRegistrationOptions", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Options for navigator.credentials.create (resident key, user verification, ES256/RS256)",
      responses: { 200: jsonContent(Options, "A challenge (5 minutes) and PublicKeyCredentialCreationOptionsJSON"), ...errorResponses(401, 409, 429) },
    }),
    async (c) => c.json(await passkeys.registrationOptions(deps(c), c.get("auth")), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/register", tags, operationId: "registerPasskey", security: bearer,
      middleware: limited("account", requireAuth),
      summary: "Register a passkey with the authenticator's RegistrationResponseJSON",
      request: { body: json(RegisterBody) },
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
      request: { params: Params, body: json(z.object({ name: PasskeyName }).openapi("PasskeyRenameBody")) },
      responses: { 200: jsonContent(PasskeyBody, "The passkey"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json({ passkey: await passkeys.renamePasskey(deps(c), c.get("auth"), c.req.valid("param").passkeyId, c.req.valid("json").name) }, 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/passkeys/{passkeyId}", tags, operationId: "deletePasskey", security: bearer, middleware: limited("account", requireAuth),
      summary: "Remove one of the caller's passkeys (re-authentication; not the last way to sign in)",
      request: {
        params: Params,
        body: { content: { "application/json": { schema: z.object({ password: Password.optional() }).openapi("PasskeyDeleteBody") } }, required: false },
      },
      responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const body = (c.req.valid("json") ?? {}) as { password?: string };
      await passkeys.removePasskey(deps(c), c.get("auth"), c.req.valid("param").passkeyId, body.password);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/login/options", tags, operationId: "passkeyLoginOptions", middleware: limited("login"),
      summary: "Options for navigator.credentials.get (discoverable credentials: no allow-list)",
      responses: { 200: jsonContent(Options, "A challenge (5 minutes) and PublicKeyCredentialRequestOptionsJSON"), ...errorResponses(429, 503) },
    }),
    async (c) => c.json(await passkeyLogin.loginOptions(deps(c)), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/passkeys/login", tags, operationId: "passkeyLogin", middleware: limited("login"),
      summary: "Sign in with the authenticator's AuthenticationResponseJSON",
      request: { body: json(LoginBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const response = body.response as unknown as AuthenticationResponseJSON;
      return c.json(tokenPair(await passkeyLogin.loginWithPasskey(deps(c), { challengeId: body.challengeId, response })), 200);
    },
  );
