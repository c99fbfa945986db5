/**
 * The admin API under /v1/admin (API.md §10), for operators holding ADMIN_API_KEY: off (404) when
 * it is unset; every route limited by the `admin` bucket and gated by the key (src/admin/auth.ts).
 *
 * @example
 * app.route("/v1/admin", admin);
 */
import { createRoute } from "@hono/zod-openapi";
import * as service from "../admin";
import { adminEnabled, requireAdminKey } from "../admin/auth";
import { deps, router } from "../http";
import { limited, noStore } from "../http/middleware";
import { AdminSearchQuery, AdminUser, AdminUserDetail, UserParams } from "./lifecycle-schemas";
import { bearer, errorResponses, jsonContent } from "./schemas";
import { z } from "@hono/zod-openapi";

const tags = ["admin"];
const gate = limited("admin", requireAdminKey);
const UserAnswer = z.object({ user: AdminUser });

const app = router();
app.use("*", adminEnabled, noStore);

export const admin = app
  .openapi(
    createRoute({
      method: "get", path: "/users", tags, security: bearer, middleware: gate, operationId: "adminSearchUsers",
      summary: "Find users by an email or username prefix (case-insensitive)",
      request: { query: AdminSearchQuery },
      responses: { 200: jsonContent(z.object({ users: z.array(AdminUser), nextCursor: z.string().nullable() }), "One page of users"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json(await service.searchUsers(deps(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get", path: "/users/{userId}", tags, security: bearer, middleware: gate, operationId: "adminGetUser",
      summary: "One user with its sessions, identities and passkeys",
      request: { params: UserParams },
      responses: { 200: jsonContent(AdminUserDetail, "The user"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json(await service.getUser(deps(c), c.req.valid("param").userId), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/users/{userId}/disable", tags, security: bearer, middleware: gate, operationId: "adminDisableUser",
      summary: "Disable a user: every session ends, every sign-in answers 403 account_disabled",
      request: { params: UserParams },
      responses: { 200: jsonContent(UserAnswer, "The user"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json({ user: await service.disableUser(deps(c), c.req.valid("param").userId) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/users/{userId}/enable", tags, security: bearer, middleware: gate, operationId: "adminEnableUser",
      summary: "Enable a disabled user",
      request: { params: UserParams },
      responses: { 200: jsonContent(UserAnswer, "The user"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json({ user: await service.enableUser(deps(c), c.req.valid("param").userId) }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/users/{userId}/revoke-sessions", tags, security: bearer, middleware: gate, operationId: "adminRevokeSessions",
      summary: "End every session of a user",
      request: { params: UserParams },
      responses: { 204: { description: "Done" }, ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => {
      await service.revokeUserSessions(deps(c), c.req.valid("param").userId);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "delete", path: "/users/{userId}", tags, security: bearer, middleware: gate, operationId: "adminDeleteUser",
      summary: "Delete a user, as self-deletion does",
      request: { params: UserParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => {
      await service.deleteUser(deps(c), c.req.valid("param").userId);
      return c.body(null, 204);
    },
  );
