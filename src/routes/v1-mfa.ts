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
import { TokenPair, bearer, errorResponses, json, jsonContent } from "./schemas";
import {
  Factor, FactorParams, MfaActivateBody, MfaEnrollBody, MfaEnrollment, MfaFactors, MfaReauthBody, MfaRecoveryCodes, MfaStepUpBody, MfaVerifyBody,
  RecoveryCodes, bodyOf, optionalJson,
} from "./mfa-schemas";

const tags = ["v1", "mfa"];
export const v1Mfa = router()
  .openapi(
    createRoute({
      method: "post", path: "/mfa/verify", tags, operationId: "mfaVerify", middleware: limited("login"),
      summary: "Finish a sign-in that answered mfa_required, with a TOTP code or a recovery code",
      request: { body: json(MfaVerifyBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for the new session (aal2)"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(tokenPair(await mfa.verifyMfa(deps(c), c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/totp", tags, operationId: "mfaEnrollTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Start enrolling an authenticator app: a pending factor (15 minutes) and its secret, shown once",
      request: { body: optionalJson(MfaEnrollBody) },
      responses: {
        200: jsonContent(MfaEnrollment, "The pending factor"),
        ...errorResponses(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => c.json(await mfa.enrollTotp(deps(c), c.get("auth"), bodyOf(c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/totp/activate", tags, operationId: "mfaActivateTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Turn the pending factor on with its first code: recovery codes, and the calling session at aal2",
      request: { body: json(MfaActivateBody) },
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
        200: jsonContent(MfaFactors, "The factors"),
        ...errorResponses(401, 429),
      },
    }),
    async (c) => c.json(await mfa.listFactors(deps(c), c.get("auth")), 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/mfa/totp/{factorId}", tags, operationId: "mfaRemoveTotp", security: bearer, middleware: limited("account", requireAuth),
      summary: "Remove the factor and every recovery code (step-up: aal2 within 10 minutes, or password and code)",
      request: { params: FactorParams, body: optionalJson(MfaReauthBody) },
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
      request: { body: optionalJson(MfaReauthBody) },
      responses: { 200: jsonContent(MfaRecoveryCodes, "The new codes"), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => c.json({ recoveryCodes: await mfa.regenerateRecoveryCodes(deps(c), c.get("auth"), bodyOf(c.req.valid("json"))) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/mfa/step-up", tags, operationId: "mfaStepUp", security: bearer, middleware: limited("login", requireAuth),
      summary: "Prove the second factor again: the same session at aal2, auth_time now",
      request: { body: json(MfaStepUpBody) },
      responses: { 200: jsonContent(TokenPair, "The session's new pair"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json(tokenPair(await mfa.stepUp(deps(c), c.get("auth"), c.req.valid("json"))), 200),
  );
