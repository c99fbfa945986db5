/**
 * The account lifecycle under /v1/auth (API.md §9): profile, email change, deletion (self-service
 * and by mailed link) and the security activity. Each route parses, calls one service function
 * and presents the result; every one is limited (`account`, or `sessions` for the activity).
 *
 * @example
 * app.route("/v1/auth", v1Account);
 */
import { createRoute } from "@hono/zod-openapi";
import { updateProfile } from "../accounts/profile";
import { confirmEmailChange, requestEmailChange } from "../accounts/email-change";
import { listActivity } from "../activity/list";
import { confirmDeletion, deleteOwnAccount, requestDeletion } from "../deletion";
import { deps, jsonOrFormBody, router } from "../http";
import { limited, requireAuth, requireClaims } from "../http/middleware";
import { guarded } from "../http/turnstile";
import { publicUser } from "./present";
import {
  ActivityPage, ActivityQuery, ChangeEmailBody, MessageBody, PasswordBody, ProfileBody, ProfileForm, UserBody,
} from "./lifecycle-schemas";
import { EmailBody, TokenBody, bearer, errorResponses, json, jsonContent, jsonOrForm, turnstileDoc } from "./schemas";

const tags = ["v1", "account"];

export const v1Account = router()
  .openapi(
    createRoute({
      method: "patch", path: "/me", tags, security: bearer, middleware: limited("account", requireAuth), operationId: "updateProfile",
      summary: "Change the caller's username or profile picture (full accounts)",
      request: { body: { ...jsonOrForm(ProfileBody, ProfileForm), required: false } },
      responses: { 200: jsonContent(UserBody, "The updated user"), ...errorResponses(400, 401, 403, 409, 413, 415, 429) },
    }),
    async (c) => {
      const body = jsonOrFormBody(c, { json: () => c.req.valid("json"), form: () => c.req.valid("form") });
      const picture = body.profilePicture;
      const input = { username: body.username, profilePicture: picture === "" ? null : picture };
      return c.json({ user: publicUser(await updateProfile(deps(c), c.get("auth"), input)) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/change-email", tags, security: bearer, middleware: limited("account", requireAuth), operationId: "changeEmail",
      summary: "Ask to move the account to a new address: a link to it, a notice to the old one",
      request: { body: json(ChangeEmailBody) },
      responses: { 200: jsonContent(MessageBody, "The confirmation link is on its way"), ...errorResponses(400, 401, 403, 409, 429) },
    }),
    async (c) => {
      await requestEmailChange(deps(c), c.get("auth"), c.req.valid("json"));
      return c.json({ message: "A confirmation link is on its way to the new address; the current one signs in until it is used." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/confirm-email-change", tags, middleware: limited("account"), operationId: "confirmEmailChange",
      summary: "Confirm the new address with the mailed token",
      request: { body: json(TokenBody) },
      responses: { 200: jsonContent(UserBody, "The user with its new, verified address"), ...errorResponses(400, 409, 429) },
    }),
    async (c) => c.json({ user: publicUser(await confirmEmailChange(deps(c), c.req.valid("json").token)) }, 200),
  )
  .openapi(
    createRoute({
      method: "delete", path: "/me", tags, security: bearer, middleware: limited("account", requireAuth), operationId: "deleteAccount",
      summary: "Delete the caller's account and everything kept about it",
      request: { body: { content: { "application/json": { schema: PasswordBody } }, required: false } },
      responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 415, 429) },
    }),
    async (c) => {
      await deleteOwnAccount(deps(c), c.get("auth"), c.req.valid("json"));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/request-deletion", tags, middleware: guarded("account", "request-deletion"), operationId: "requestDeletion", ...turnstileDoc,
      summary: "Mail a deletion link (same answer whether or not the account exists)",
      request: { body: json(EmailBody) },
      responses: { 200: jsonContent(MessageBody, "Accepted"), ...errorResponses(400, 403, 429, 503) },
    }),
    async (c) => {
      await requestDeletion(deps(c), c.req.valid("json").email);
      return c.json({ message: "If an account uses this address, a deletion link is on its way." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/confirm-deletion", tags, middleware: limited("account"), operationId: "confirmDeletion",
      summary: "Delete the account with the mailed token",
      request: { body: json(TokenBody) },
      responses: { 200: jsonContent(MessageBody, "Deleted"), ...errorResponses(400, 429) },
    }),
    async (c) => {
      await confirmDeletion(deps(c), c.req.valid("json").token);
      return c.json({ message: "The account and everything kept about it were deleted." }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get", path: "/activity", tags, security: bearer, middleware: limited("sessions", requireClaims), operationId: "listActivity",
      summary: "The caller's security events, newest first",
      request: { query: ActivityQuery },
      responses: { 200: jsonContent(ActivityPage, "One page of events"), ...errorResponses(400, 401, 429) },
    }),
    async (c) => c.json(await listActivity(deps(c), c.get("claims"), c.req.valid("query")), 200),
  );
