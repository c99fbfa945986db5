/**
 * The second factor under /v1/auth (API.md §15): enrol and activate a TOTP factor, list, remove,
 * renew recovery codes, complete a sign-in (`mfa/verify`) and step up. `mfa/verify` and
 * `mfa/step-up` use the login bucket, the others the account bucket (§6). Mounted from src/index.ts.
 *
 * @example
 * app.route("/v1/auth", v1Mfa);
 */
import { createRoute, z } from "@hono/zod-openapi";
import { deps, router } from "../http";
import { limited, requireAuth } from "../http/middleware";
import * as mfa from "../mfa";
import { tokenPair } from "./present";
import { Password, SecondFactorFields, TokenPair, bearer, errorResponses, json, jsonContent } from "./schemas";

const tags = ["v1", "mfa"];
const Code = z.string().min(1).max(16).openapi({ example: "492039" });
const Factor = z
  .object({ id: z.uuid(), type: z.literal("totp"), createdAt: z.string().openapi({ format: "date-time" }), lastUsedAt: z.string().nullable().openapi({ format: "date-time" }) })
  .openapi("MfaFactor");
const RecoveryCodes = z.array(z.string()).openapi({ description: "Ten single-use codes, shown once", example: ["k3mz-8qpa-77tw"] });
const VerifyBody = z.object({ mfaToken: z.string().min(1).max(512), ...SecondFactorFields }).openapi("MfaVerifyBody");
const StepUpBody = z.object(SecondFactorFields).openapi("MfaStepUpBody");
const ReauthBody = z.object({ password: Password.optional(), ...SecondFactorFields }).openapi("MfaReauthenticationBody");
const FactorParams = z.object({ factorId: z.uuid().transform((id) => id.toLowerCase()).openapi({ param: { name: "factorId", in: "path" } }) });
const optionalJson = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } }, required: false });
const bodyOf = <T>(value: T | undefined) => (value ?? {}) as NonNullable<T>;

export const v1Mfa = router()
  .openapi(
    createRoute({
      method: "post", path: "/mfa/verify", tags, operationId: "mfaVerify", middleware: limited("login"),
      summary: "Finish a sign-in that answered mfa_required, with a TOTP code or a recovery code",
      request: { body: json(VerifyBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for the new session (aal2)"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(tokenPair(await mfa.verifyMfa(deps(c), c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/totp", tags, operationId: "mfaEnrollTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Start enrolling an authenticator app: a pending factor (15 minutes) and its secret, shown once",
      request: { body: optionalJson(z.object({ password: Password.optional().openapi({ description: "§9 re-authentication: required when the account has a password" }) }).openapi("MfaEnrollBody")) },
      responses: {
        200: jsonContent(z.object({ factorId: z.uuid(), secret: z.string().openapi({ description: "base32" }), otpauthUri: z.string() }).openapi("MfaEnrollment"), "The pending factor"),
        ...errorResponses(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => c.json(await mfa.enrollTotp(deps(c), c.get("auth"), bodyOf(c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/totp/activate", tags, operationId: "mfaActivateTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Turn the pending factor on with its first code: recovery codes, and the calling session at aal2",
      request: { body: json(z.object({ factorId: z.uuid().transform((id) => id.toLowerCase()), code: Code }).openapi("MfaActivateBody")) },
      responses: {
        200: jsonContent(z.object({ factor: Factor, recoveryCodes: RecoveryCodes, tokens: TokenPair }).openapi("MfaActivation"), "The active factor"),
        ...errorResponses(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => {
      const result = await mfa.activateTotp(deps(c), c.get("auth"), c.req.valid("json"));
      return c.json({ factor: result.factor, recoveryCodes: result.recoveryCodes, tokens: tokenPair(result.tokens) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/mfa", tags, operationId: "mfaList", security: bearer, middleware: limited("account", requireAuth),
      summary: "The caller's active second factor and how many recovery codes are unused",
      responses: {
        200: jsonContent(z.object({ factors: z.array(Factor), recoveryCodesRemaining: z.number().int() }).openapi("MfaFactors"), "The factors"),
        ...errorResponses(401, 429),
      },
    }),
    async (c) => c.json(await mfa.listFactors(deps(c), c.get("auth")), 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/mfa/totp/{factorId}", tags, operationId: "mfaRemoveTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Remove the factor and every recovery code (step-up: aal2 within 10 minutes, or password and code)",
      request: { params: FactorParams, body: optionalJson(ReauthBody) },
      responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      await mfa.removeTotp(deps(c), c.get("auth"), c.req.valid("param").factorId, bodyOf(c.req.valid("json")));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/recovery-codes", tags, operationId: "mfaRegenerateRecoveryCodes", security: bearer, middleware: limited("account", requireAuth),
      summary: "A new set of recovery codes; the old set stops working (step-up)",
      request: { body: optionalJson(ReauthBody) },
      responses: { 200: jsonContent(z.object({ recoveryCodes: RecoveryCodes }).openapi("MfaRecoveryCodes"), "The new codes"), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => c.json({ recoveryCodes: await mfa.regenerateRecoveryCodes(deps(c), c.get("auth"), bodyOf(c.req.valid("json"))) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/step-up", tags, operationId: "mfaStepUp", security: bearer, middleware: limited("login", requireAuth),
      summary: "Prove the second factor again: the same session at aal2, auth_time now",
      request: { body: json(StepUpBody) },
      responses: { 200: jsonContent(TokenPair, "The session's new pair"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json(tokenPair(await mfa.stepUp(deps(c), c.get("auth"), c.req.valid("json"))), 200),
  );
