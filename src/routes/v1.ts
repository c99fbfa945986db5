/**
 * The canonical API under /v1/auth (API.md §3). Each route parses with zod, calls one service
 * function and presents the result.
 *
 * @example
 * app.route("/v1/auth", v1);
 */
import { createRoute, z } from "@hono/zod-openapi";
import * as accounts from "../accounts";
import { readAvatar } from "../accounts/avatars";
import { AuthError } from "../http/errors";
import { deps, jsonOrFormBody, router } from "../http";
import { limited, requireAuth, requireClaims, requireLiveSession } from "../http/middleware";
import { optionalAuth } from "../http/optional-auth";
import { guarded } from "../http/turnstile";
import * as recovery from "../recovery";
import * as sessions from "../sessions";
import { publicUser, tokenPair } from "./present";
import {
  ChangePasswordBody, ForgotBody, GuestBody, LoginBody, RefreshBody, RegisterBody, RegisterForm, ResendVerificationBody, ResetBody, Session,
  SessionParams, TokenBody, TokenPair, UpgradeBody, UpgradeForm, User, bearer, errorResponses, json, jsonContent, jsonOrForm,
  turnstileDoc,
} from "./schemas";

const tags = ["v1"];
const UserBody = z.object({ user: User });
const noContent = { 204: { description: "Done" } };

export const v1 = router()
  .openapi(
    createRoute({
      method: "post", path: "/guest", operationId: "v1Guest", tags, middleware: guarded("guest", "guest"), ...turnstileDoc,
      summary: "Start a guest session",
      request: { body: { content: { "application/json": { schema: GuestBody } }, required: false } },
      responses: { 200: jsonContent(TokenPair, "A new guest user and its tokens"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => c.json(tokenPair(await accounts.guest(deps(c))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/register", operationId: "v1Register", tags, middleware: guarded("register", "register"), ...turnstileDoc,
      summary: "Create a full account",
      request: { body: jsonOrForm(RegisterBody, RegisterForm) },
      responses: {
        201: jsonContent(
          TokenPair.partial().extend({ user: User, verificationRequired: z.boolean() }),
          "The account; with the TokenPair fields too when email verification is off",
        ),
        ...errorResponses(400, 403, 409, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const body = jsonOrFormBody(c, { json: () => c.req.valid("json"), form: () => c.req.valid("form") });
      const result = await accounts.register(deps(c), body);
      return c.json(
        {
          user: publicUser(result.user),
          verificationRequired: result.verificationRequired,
          ...(result.pair ? tokenPair(result.pair) : {}),
        },
        201,
      );
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/verify-email", operationId: "v1VerifyEmail", tags, middleware: limited("reset"),
      summary: "Confirm an email address with the mailed token",
      request: { body: json(TokenBody) },
      responses: { 200: jsonContent(UserBody, "The verified user"), ...errorResponses(400, 429) },
    }),
    async (c) => c.json({ user: publicUser(await accounts.verifyEmail(deps(c), c.req.valid("json").token)) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/resend-verification", operationId: "v1ResendVerification", tags, middleware: guarded("recovery", "resend-verification"), ...turnstileDoc,
      summary: "Mail a new verification link (same answer whether or not the account exists)",
      request: { body: json(ResendVerificationBody) },
      responses: { 200: jsonContent(z.object({ message: z.string() }), "Accepted"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => {
      const { email, baseUrl, clientAlias } = c.req.valid("json");
      await accounts.resendVerification(deps(c), email, { baseUrl, clientAlias });
      return c.json({ message: "If the account exists and is unverified, a verification mail is on its way." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/login", operationId: "v1Login", tags, security: [{}, ...bearer], middleware: guarded("login", "login", optionalAuth), ...turnstileDoc,
      summary: "Sign in with email or username and password; with a guest's Bearer token, the guest is merged into the account (user.merged)",
      request: { body: json(LoginBody) },
      responses: { 200: jsonContent(TokenPair, "Tokens for a new session"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(tokenPair(await accounts.login(deps(c), c.req.valid("json"), c.get("auth") as sessions.Auth | undefined)), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/refresh", operationId: "v1Refresh", tags, middleware: limited("refresh"),
      summary: "Rotate a refresh token for a new pair",
      request: { body: json(RefreshBody) },
      responses: { 200: jsonContent(TokenPair, "The new pair"), ...errorResponses(400, 401, 429) },
    }),
    async (c) => c.json(tokenPair(await sessions.refresh(deps(c), c.req.valid("json").refreshToken)), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/revoke", operationId: "v1Revoke", tags, middleware: limited("signout"),
      summary: "End the session of a refresh token (204 for unknown tokens too)",
      request: { body: json(RefreshBody) },
      responses: { ...noContent, ...errorResponses(400, 429) },
    }),
    async (c) => {
      await sessions.revoke(deps(c), c.req.valid("json").refreshToken);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/revoke-all", operationId: "v1RevokeAll", tags, security: bearer, middleware: limited("signout", requireAuth),
      summary: "End every session of the caller",
      responses: { ...noContent, ...errorResponses(401, 429) },
    }),
    async (c) => {
      await sessions.revokeAll(deps(c), c.get("auth"));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/upgrade", operationId: "v1Upgrade", tags, security: bearer, middleware: limited("upgrade", requireAuth),
      summary: "Turn the calling guest into a full account, keeping its id",
      request: { body: jsonOrForm(UpgradeBody, UpgradeForm) },
      responses: { 201: jsonContent(TokenPair, "Tokens with role user"), ...errorResponses(400, 401, 403, 409, 413, 415, 429) },
    }),
    async (c) => {
      const body = jsonOrFormBody(c, { json: () => c.req.valid("json"), form: () => c.req.valid("form") });
      return c.json(tokenPair(await accounts.upgrade(deps(c), c.get("auth"), body)), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/me", operationId: "v1GetMe", tags, security: bearer, middleware: [requireLiveSession],
      summary: "The signed-in user",
      responses: { 200: jsonContent(UserBody, "The user"), ...errorResponses(401) },
    }),
    (c) => c.json({ user: c.get("checked").user }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/change-password", operationId: "v1ChangePassword", tags, security: bearer, middleware: limited("reset", requireAuth),
      summary: "Change the password with the current one",
      request: { body: json(ChangePasswordBody) },
      responses: { 200: jsonContent(UserBody, "The user"), ...errorResponses(400, 401, 403, 429) },
    }),
    async (c) => c.json({ user: publicUser(await accounts.changePassword(deps(c), c.get("auth"), c.req.valid("json"))) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/forgot-password", operationId: "v1ForgotPassword", tags, middleware: guarded("recovery", "forgot-password"), ...turnstileDoc,
      summary: "Mail a password-reset link (same answer whether or not the account exists)",
      request: { body: json(ForgotBody) },
      responses: { 200: jsonContent(z.object({ message: z.string() }), "Accepted"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => {
      await recovery.forgotPassword(deps(c), c.req.valid("json"));
      return c.json({ message: "If an account uses this address, a reset link is on its way." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/reset-password", operationId: "v1ResetPassword", tags, middleware: limited("reset"),
      summary: "Set a new password with the mailed token; ends every session",
      request: { body: json(ResetBody) },
      responses: { 200: jsonContent(UserBody, "The user"), ...errorResponses(400, 429) },
    }),
    async (c) => c.json({ user: publicUser(await recovery.resetPassword(deps(c), c.req.valid("json"))) }, 200),
  )
  .openapi(
    createRoute({
      method: "get", path: "/sessions", operationId: "v1GetSessions", tags, security: bearer, middleware: limited("sessions", requireClaims),
      summary: "The caller's live sessions",
      responses: { 200: jsonContent(z.object({ sessions: z.array(Session) }), "Sessions, most recently used first"), ...errorResponses(401, 429) },
    }),
    async (c) => c.json({ sessions: await sessions.listSessions(deps(c), c.get("claims")) }, 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/sessions/{sessionId}", operationId: "v1DeleteSessionsSessionId", tags, security: bearer, middleware: limited("sessions", requireAuth),
      summary: "End one of the caller's sessions",
      request: { params: SessionParams },
      responses: { ...noContent, ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      await sessions.deleteSession(deps(c), c.get("auth"), c.req.valid("param").sessionId);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/avatars/{key}", operationId: "v1GetAvatarsKey", tags,
      summary: "An uploaded profile picture",
      request: { params: z.object({ key: z.string().max(64) }) },
      responses: { 200: { description: "The image", content: { "image/*": { schema: z.any() } } }, ...errorResponses(404) },
    }),
    async (c) => {
      const avatar = await readAvatar(c.env, c.req.valid("param").key);
      if (!avatar) throw new AuthError("not_found", "No such picture");
      return c.body(avatar.body, 200, {
        "Content-Type": avatar.type,
        "Cache-Control": "public, max-age=86400, immutable",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
      });
    },
  );
