/**
 * Email codes under /v1/auth (API.md §11): ask for a code, then trade it for a TokenPair. Mounted
 * from src/index.ts beside the other /v1/auth routers.
 *
 * @example
 * app.route("/v1/auth", v1EmailCode);
 */
import { createRoute, z } from "@hono/zod-openapi";
import * as emailCodes from "../email-codes";
import { deps, router } from "../http";
import { limited } from "../http/middleware";
import { optionalAuth } from "../http/optional-auth";
import { guarded } from "../http/turnstile";
import type { Auth } from "../sessions";
import { tokenPair } from "./present";
import { TokenPair, bearer, errorResponses, json, jsonContent, turnstileDoc } from "./schemas";
import { EmailCodeBody, EmailCodeVerifyBody } from "./signin-schemas";

const tags = ["v1"];

export const v1EmailCode = router()
  .openapi(
    createRoute({
      method: "post", path: "/email-code", tags, operationId: "requestEmailCode", middleware: guarded("code", "email-code"), ...turnstileDoc,
      summary: "Mail a 6-digit sign-in code (same answer whether or not the account exists)",
      request: { body: json(EmailCodeBody) },
      responses: { 200: jsonContent(z.object({ message: z.string() }), "Accepted"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => {
      await emailCodes.requestCode(deps(c), c.req.valid("json"));
      return c.json({ message: "If the address can sign in, a code is on its way." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/email-code/verify", tags, operationId: "verifyEmailCode", security: [{}, ...bearer],
      middleware: limited("login", optionalAuth),
      summary: "Sign in (or sign up, or upgrade the calling guest) with a mailed code",
      request: { body: json(EmailCodeVerifyBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session"), ...errorResponses(400, 401, 403, 409, 429, 503) },
    }),
    async (c) => {
      const auth = c.get("auth") as Auth | undefined;
      return c.json(tokenPair(await emailCodes.verifyCode(deps(c), c.req.valid("json"), auth)), 200);
    },
  );
