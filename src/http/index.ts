/**
 * What the routers share: the Hono env type, a router factory whose validation failures become
 * API.md §5 errors, and the bridge from a request to the `Deps` services take.
 *
 * @example
 * import { router, deps } from "./index";
 * const app = router();
 * app.openapi(route, async (c) => c.json(present(await service(deps(c), c.req.valid("json")))));
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Config } from "../config";
import type { Deps } from "./deps";
import { AuthError } from "./errors";
import type { FieldIssue } from "./errors";
import type { Auth } from "../sessions";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    requestId: string;
    auth: Auth;
  };
}

export type AppContext = Context<AppEnv>;

interface ZodIssueLike {
  path: PropertyKey[];
  message: string;
}

export function fieldIssues(issues: readonly ZodIssueLike[]): FieldIssue[] {
  return issues.map((issue) => ({
    field: issue.path.map(String).join(".") || "body",
    message: issue.message,
  }));
}

export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new AuthError("invalid_request", "The request is invalid", fieldIssues(result.error.issues));
      }
    },
  });
}

export function deps(c: AppContext): Deps {
  const url = new URL(c.req.url);
  return {
    env: c.env,
    config: c.get("config"),
    requestId: c.get("requestId"),
    origin: url.origin,
    // Only Cloudflare's own header: X-Forwarded-For is client-controlled (API.md §6).
    client: {
      ipAddress: c.req.header("cf-connecting-ip") ?? null,
      userAgent: c.req.header("user-agent")?.slice(0, 512) ?? null,
    },
    waitUntil: (promise) => {
      try {
        c.executionCtx.waitUntil(promise);
      } catch {
        void promise;
      }
    },
  };
}

/** The validated body of a route that takes JSON or a form (register, upgrade); none is a 400. */
export function jsonOrFormBody<T>(c: AppContext, valid: { json: () => T; form: () => T }): T {
  const type = c.req.header("content-type") ?? "";
  if (/^multipart\/form-data|^application\/x-www-form-urlencoded/i.test(type)) return valid.form();
  if (/json/i.test(type)) return valid.json();
  throw new AuthError("invalid_request", "A JSON or multipart body is required", [{ field: "body", message: "is required" }]);
}
