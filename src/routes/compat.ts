/**
 * Compatibility doors under /auth for documents 000 and 001 (API.md §4), over the same services as
 * /v1, so a token from any door works at every other. The one path both documents define,
 * `POST /auth/signout`, lives here: a body with `refresh_token` is document 000's sign-out (end
 * that token's session, 204); anything else is document 001's (end `sessionIds`, or the current
 * session, 200 envelope). Both require the bearer token and share the "signout" bucket.
 *
 * @example
 * app.route("/auth", compat);
 */
import { createRoute } from "@hono/zod-openapi";
import { deps, router } from "../http";
import { limited, requireAuth } from "../http/middleware";
import { spelled } from "../http/spelling";
import * as sessions from "../sessions";
import { compat000 } from "./compat-000";
import { compat001 } from "./compat-001";
import { envelope } from "./compat-present";
import { Envelope, SNAKE_000, SignoutBody } from "./compat-schemas";
import { bearer, errorResponses, jsonContent } from "./schemas";

const signout = router().openapi(
  createRoute({
    method: "post", path: "/signout", operationId: "authSignout", tags: ["doc-000", "doc-001"], security: bearer,
    middleware: [spelled(SNAKE_000), ...limited("signout", requireAuth)],
    summary: "End a session (documents 000 and 001)",
    description:
      "With `refresh_token` (document 000): ends that token's session, which must be the caller's; 204. " +
      "Otherwise (document 001): ends the caller's `sessionIds`, or the current session when left out; 200.",
    request: { body: { content: { "application/json": { schema: SignoutBody } }, required: false } },
    responses: {
      200: jsonContent(Envelope, "Document 001: signed out"),
      204: { description: "Document 000: signed out" },
      ...errorResponses(400, 401, 403, 429),
    },
  }),
  async (c) => {
    const { refresh_token, sessionIds } = c.req.valid("json");
    if (refresh_token !== undefined) {
      await sessions.revoke(deps(c), refresh_token, c.get("auth"));
      return c.body(null, 204);
    }
    await sessions.signOutSessions(deps(c), c.get("auth"), sessionIds);
    return c.json(envelope(200, "Signed out"), 200);
  },
);

export const compat = router().route("/", signout).route("/", compat000).route("/", compat001);
