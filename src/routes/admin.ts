/**
 * The admin API under /v1/admin (API.md §10), for operators holding ADMIN_API_KEY: off (404) when
 * it is unset; every route limited by the `admin` bucket and gated by the key (src/admin/auth.ts).
 *
 * @example
 * app.route("/v1/admin", admin);
 */
import { createRoute } from "@hono/zod-openapi";
import type { RouteConfig } from "@hono/zod-openapi";
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

/** The errors every admin route answers (API.md §5 bodies). */
const adminErrors = errorResponses(400, 401, 404, 429);

/**
 * A route about one user (`{userId}` in the path): the admin tag, key and limit, and the user id
 * parameter. `responses` lists every answer, `...adminErrors` included (spread at the call, so the
 * handler's typed answers stay those of a route written out).
 */
const userRoute = <M extends RouteConfig["method"], P extends `/users/{userId}${string}`, R extends RouteConfig["responses"]>(
  method: M, path: P, operationId: string, summary: string, responses: R,
) =>
  createRoute({
    method, path, tags, security: bearer, middleware: gate, operationId, summary,
    request: { params: UserParams },
    responses,
  });

const app = router();
app.use("*", adminEnabled, noStore);

export const admin = app
  .openapi(
    createRoute({
      method: "get", path: "/users", tags, security: bearer, middleware: gate, operationId: "adminSearchUsers",
      summary: "Find users by an email or username prefix (case-insensitive)",
      request: { query: AdminSearchQuery },
      responses: { 200: jsonContent(z.object({ users: z.array(AdminUser), nextCursor: z.string().nullable() }), "One page of users"), ...adminErrors },
    }),
    async (c) => c.json(await service.searchUsers(deps(c), c.req.valid("query")), 200),
  )
  .openapi(
    userRoute("get", "/users/{userId}", "adminGetUser", "One user with its sessions, identities, passkeys and latest activity", {
      200: jsonContent(AdminUserDetail, "The user"),
      ...adminErrors,
    }),
    async (c) => c.json(await service.getUser(deps(c), c.req.valid("param").userId), 200),
  )
  .openapi(
    userRoute("post", "/users/{userId}/disable", "adminDisableUser", "Disable a user: every session ends, every sign-in answers 403 account_disabled", {
      200: jsonContent(UserAnswer, "The user"),
      ...adminErrors,
    }),
    async (c) => c.json({ user: await service.disableUser(deps(c), c.req.valid("param").userId) }, 200),
  )
  .openapi(
    userRoute("post", "/users/{userId}/enable", "adminEnableUser", "Enable a disabled user", { 200: jsonContent(UserAnswer, "The user"), ...adminErrors }),
    async (c) => c.json({ user: await service.enableUser(deps(c), c.req.valid("param").userId) }, 200),
  )
  .openapi(
    userRoute("post", "/users/{userId}/revoke-sessions", "adminRevokeSessions", "End every session of a user", { 204: { description: "Done" }, ...adminErrors }),
    async (c) => {
      await service.revokeUserSessions(deps(c), c.req.valid("param").userId);
      return c.body(null, 204);
    },
  )
  .openapi(
    userRoute("delete", "/users/{userId}/mfa", "adminResetMfa", "Remove a user's second factor and recovery codes (a lost phone); pending sign-ins end", {
      204: { description: "Removed (also when the user had none)" },
      ...adminErrors,
    }),
    async (c) => {
      await service.resetMfa(deps(c), c.req.valid("param").userId);
      return c.body(null, 204);
    },
  )
  .openapi(
    userRoute("delete", "/users/{userId}", "adminDeleteUser", "Delete a user, as self-deletion does", { 204: { description: "Deleted" }, ...adminErrors }),
    async (c) => {
      await service.deleteUser(deps(c), c.req.valid("param").userId);
      return c.body(null, 204);
    },
  );
