/**
 * Document 000's door under /auth (API.md §4): guest, login, refresh and upgrade, answering the
 * snake_case TokenResponse. Each route calls the same service function as its /v1 twin and shares
 * its rate-limit bucket; sign-out, which this document shares with document 001, is in compat.ts.
 *
 * @example
 * // POST /auth/refresh {"access_token":"<expired JWT>","refresh_token":"<opaque>"}
 * app.route("/auth", compat); // compat mounts compat000
 */
import { createRoute } from "@hono/zod-openapi";
import * as accounts from "../accounts";
import { deps, jsonOrFormBody, router } from "../http";
import { limited, requireAuth } from "../http/middleware";
import { guarded } from "../http/turnstile";
import { spelled } from "../http/spelling";
import * as sessions from "../sessions";
import { RefreshWithAccessBody, SNAKE_000, TokenResponse, UpgradeBody000, UpgradeForm000 } from "./compat-schemas";
import { tokenResponse } from "./compat-present";
import { GuestBody, LoginBody, bearer, errorResponses, json, jsonContent, jsonOrForm, turnstileDoc } from "./schemas";

const tags = ["doc-000"];
const snakeNote = "Field names as document 000 writes them (snake_case); camelCase is accepted too. Error details name the snake_case fields.";

export const compat000 = router()
  .openapi(
    createRoute({
      method: "post", path: "/guest", operationId: "doc000Guest", tags, middleware: guarded("guest", "guest"), ...turnstileDoc,
      summary: "Start a guest session (document 000)",
      request: { body: { content: { "application/json": { schema: GuestBody } }, required: false } },
      responses: { 200: jsonContent(TokenResponse, "A new guest user and its tokens"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => c.json(tokenResponse(await accounts.guest(deps(c))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/login", operationId: "doc000Login", tags, middleware: [spelled(SNAKE_000), ...guarded("login", "login")], ...turnstileDoc,
      summary: "Sign in with email or username and password (document 000)",
      request: { body: json(LoginBody) },
      responses: { 200: jsonContent(TokenResponse, "Tokens for a new session"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(tokenResponse(await accounts.login(deps(c), c.req.valid("json"))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/refresh", operationId: "doc000Refresh", tags, middleware: [spelled(SNAKE_000), ...limited("refresh")],
      summary: "Rotate a refresh token, proving the session with its access token (document 000)",
      description: `The access token may be expired but must be validly signed and of the same session. ${snakeNote}`,
      request: { body: json(RefreshWithAccessBody) },
      responses: { 200: jsonContent(TokenResponse, "The new pair"), ...errorResponses(400, 401, 429) },
    }),
    async (c) => {
      const { access_token, refresh_token } = c.req.valid("json");
      return c.json(tokenResponse(await sessions.refreshWithAccessToken(deps(c), access_token, refresh_token)), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/upgrade", operationId: "doc000Upgrade", tags, security: bearer, middleware: [spelled(SNAKE_000), ...limited("upgrade", requireAuth)],
      summary: "Turn the calling guest into a full account, keeping its id (document 000)",
      description: snakeNote,
      request: { body: jsonOrForm(UpgradeBody000, UpgradeForm000) },
      responses: { 201: jsonContent(TokenResponse, "Tokens with role user"), ...errorResponses(400, 401, 403, 409, 413, 415, 429) },
    }),
    async (c) => {
      const { profile_picture, ...body } = jsonOrFormBody(c, { json: () => c.req.valid("json"), form: () => c.req.valid("form") });
      return c.json(tokenResponse(await accounts.upgrade(deps(c), c.get("auth"), { ...body, profilePicture: profile_picture })), 201);
    },
  );
