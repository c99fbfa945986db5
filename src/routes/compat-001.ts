/**
 * Document 001's door under /auth (API.md §4): sign-in, refresh, recovery, authenticated password
 * reset and session management, every success in the `{ statusCode, message, data? }` envelope (its
 * errors are the §5 body, which already carries statusCode and message). Each route calls the same
 * service function as its /v1 twin and shares its rate-limit bucket; sign-out, which this document
 * shares with document 000, is in compat.ts.
 *
 * @example
 * // POST /auth/signin {"email":" ada@example.com ","password":"…"}
 * // → 200 {"statusCode":200,"message":"Signed in","data":{"accessToken":…}}
 */
import { createRoute, z } from "@hono/zod-openapi";
import * as accounts from "../accounts";
import { deps, router } from "../http";
import { limited, requireAuth, requireClaims } from "../http/middleware";
import { guarded } from "../http/turnstile";
import { spelled } from "../http/spelling";
import * as recovery from "../recovery";
import * as sessions from "../sessions";
import { envelope } from "./compat-present";
import {
  AuthenticatedResetBody, EmailParams, Envelope, PasswordResetBody, SigninBody, UserIdParams, envelopeOf,
} from "./compat-schemas";
import { publicUser, tokenPair } from "./present";
import {
  ForgotBody, RefreshBody, Session, SessionParams, TokenPair, User, bearer, errorResponses, json, jsonContent, turnstileDoc,
} from "./schemas";

const tags = ["doc-001"];
const TokenEnvelope = envelopeOf(TokenPair, "TokenPairEnvelope");
const UserEnvelope = envelopeOf(z.object({ user: User }), "UserEnvelope");
const SessionsEnvelope = envelopeOf(z.array(Session), "SessionsEnvelope");

export const compat001 = router()
  .openapi(
    createRoute({
      method: "post", path: "/signin", operationId: "doc001Signin", tags, middleware: guarded("login", "login"), ...turnstileDoc,
      summary: "Sign in with email and password (document 001)",
      request: { body: json(SigninBody) },
      responses: { 200: jsonContent(TokenEnvelope, "Tokens for a new session"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(envelope(200, "Signed in", tokenPair(await accounts.login(deps(c), c.req.valid("json")))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/refresh-token", operationId: "doc001RefreshToken", tags, middleware: limited("refresh"),
      summary: "Rotate a refresh token for a new pair (document 001)",
      request: { body: json(RefreshBody) },
      responses: { 200: jsonContent(TokenEnvelope, "The new pair"), ...errorResponses(400, 401, 429) },
    }),
    async (c) =>
      c.json(envelope(200, "Token refreshed", tokenPair(await sessions.refresh(deps(c), c.req.valid("json").refreshToken))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/forgot-password", operationId: "doc001ForgotPassword", tags, middleware: guarded("recovery", "forgot-password"), ...turnstileDoc,
      summary: "Mail a password-reset link (same answer whether or not the account exists) (document 001)",
      request: { body: json(ForgotBody) },
      responses: { 200: jsonContent(Envelope, "Accepted"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => {
      await recovery.forgotPassword(deps(c), c.req.valid("json"));
      return c.json(envelope(200, "If an account uses this address, a reset link is on its way."), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/password-reset/{email}", operationId: "doc001PasswordResetEmail", tags, middleware: [spelled({ newPassword: "password" }), ...limited("reset")],
      summary: "Set a new password with the mailed token; ends every session (document 001)",
      request: { params: EmailParams, body: json(PasswordResetBody) },
      responses: { 200: jsonContent(UserEnvelope, "The user"), ...errorResponses(400, 429) },
    }),
    async (c) => {
      const { password, token } = c.req.valid("json");
      const user = await recovery.resetPassword(deps(c), { email: c.req.valid("param").email, token, newPassword: password });
      return c.json(envelope(200, "Password reset", { user: publicUser(user) }), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/reset-password", operationId: "doc001ResetPassword", tags, security: bearer, middleware: limited("reset", requireAuth),
      summary: "Change the signed-in user's password with the current one (document 001)",
      request: { body: json(AuthenticatedResetBody) },
      responses: { 200: jsonContent(UserEnvelope, "The user"), ...errorResponses(400, 401, 403, 429) },
    }),
    async (c) => {
      const { email, oldPassword, newPassword } = c.req.valid("json");
      const user = await accounts.changePassword(deps(c), c.get("auth"), { email, currentPassword: oldPassword, newPassword });
      return c.json(envelope(200, "Password changed", { user: publicUser(user) }), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/{userId}/sessions", operationId: "doc001GetUserIdSessions", tags, security: bearer, middleware: limited("sessions", requireClaims),
      summary: "The caller's live sessions; 403 for another user's id (document 001)",
      request: { params: UserIdParams },
      responses: { 200: jsonContent(SessionsEnvelope, "Sessions, most recently used first"), ...errorResponses(400, 401, 403, 429) },
    }),
    async (c) => {
      const list = await sessions.listSessions(deps(c), c.get("claims"), c.req.valid("param").userId);
      return c.json(envelope(200, "Sessions", list), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete", path: "/{sessionId}/sessions", operationId: "doc001DeleteSessionIdSessions", tags, security: bearer, middleware: limited("sessions", requireAuth),
      summary: "End one of the caller's sessions (document 001)",
      request: { params: SessionParams },
      responses: { 200: jsonContent(Envelope, "Ended"), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      await sessions.deleteSession(deps(c), c.get("auth"), c.req.valid("param").sessionId);
      return c.json(envelope(200, "Session deleted"), 200);
    },
  );
