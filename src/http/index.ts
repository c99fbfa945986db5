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
import type { Result, Router } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";
import type { Config } from "../config";
import type { Deps } from "./deps";
import { AuthError } from "./errors";
import { isFormMediaType, isJsonMediaType, parseMediaType } from "./media-type";
import type { FieldIssue } from "./errors";
import type { Auth } from "../sessions";
import type { CheckedSession } from "../sessions/check";
import type { AccessClaims } from "../tokens";
import type { Spelling } from "../types";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    requestId: string;
    auth: Auth;
    /** A live session's claims and public user from the user's object (`requireLiveSession`, GET /me). */
    checked: CheckedSession;
    /** A verified access token's claims, for routes whose own D1 read checks the session (`requireClaims`). */
    claims: AccessClaims;
    /** The door's field spelling (src/http/spelling.ts); unset on canonical routes. */
    spelling?: Spelling;
  };
}

export type AppContext = Context<AppEnv>;

/** The parts of a zod 4 issue the messages below read. */
interface ZodIssueLike {
  code?: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  format?: string;
  values?: readonly unknown[];
  keys?: readonly string[];
  errors?: readonly (readonly ZodIssueLike[])[];
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const noun = (origin: string | undefined, count: number | bigint) =>
  origin === "string" ? `${count} character${count === 1 ? "" : "s"}` : origin === "array" ? `${count} item${count === 1 ? "" : "s"}` : String(count);

/**
 * A message that reads after the field's name ("password is required"), in place of zod's
 * defaults ("Invalid input: expected string, received undefined"). Messages the schemas wrote
 * themselves (lower case, "must be …") are kept.
 */
function issueMessage(issue: ZodIssueLike, data: unknown): string {
  if (/^[a-z]/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_type":
      return valueAt(data, issue.path) === undefined ? "is required" : `must be ${/^[aeiou]/.test(issue.expected ?? "") ? "an" : "a"} ${issue.expected}`;
    case "too_small":
      return issue.origin === "string" && Number(issue.minimum) === 1 ? "must not be empty" : `must be at least ${noun(issue.origin, issue.minimum ?? 0)}`;
    case "too_big":
      return `must be at most ${noun(issue.origin, issue.maximum ?? 0)}`;
    case "invalid_format":
      return issue.format === "regex" ? "has an invalid format" : `must be a valid ${issue.format}`;
    case "invalid_value":
      return `must be one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys":
      return `has unknown fields: ${(issue.keys ?? []).join(", ")}`;
    default:
      return "is invalid";
  }
}

/** Missing fields first, then issue count: the union branch the caller most likely meant. */
function likeliestBranch(branches: readonly (readonly ZodIssueLike[])[], data: unknown): readonly ZodIssueLike[] {
  const missing = (issues: readonly ZodIssueLike[]) =>
    issues.filter((i) => i.code === "invalid_type" && valueAt(data, i.path) === undefined).length;
  return [...branches].sort((a, b) => missing(a) - missing(b) || a.length - b.length)[0] ?? [];
}

/** zod issues as §5 `details`: one per field, the field as a dotted path, `body` for the whole. */
export function fieldIssues(issues: readonly ZodIssueLike[], data?: unknown): FieldIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code === "invalid_union" && issue.errors?.length) {
      const base = issue.path;
      return fieldIssues(likeliestBranch(issue.errors, valueAt(data, base)).map((i) => ({ ...i, path: [...base, ...i.path] })), data);
    }
    return [{ field: issue.path.map(String).join(".") || "body", message: issueMessage(issue, data) }];
  });
}

/** Distinct (method, path) matches remembered at most; past it, paths are matched afresh. */
const REMEMBERED_MATCHES = 512;

/**
 * Hono's TrieRouter, which its default SmartRouter settles on here anyway (RegExpRouter refuses a
 * static segment beside a parameter: /v1/auth/oauth/token beside /v1/auth/oauth/:provider/…), so
 * without SmartRouter's failed RegExpRouter build on an isolate's first request (~2–4 ms). The
 * match of a path registered without parameters (/health, /v1/auth/me) is remembered, as Hono's
 * own RegExpRouter shares its static matches between requests; any other path (one with a
 * parameter may hold an email) is matched afresh each time.
 */
class TrieRouterWithStaticMatches<T> implements Router<T> {
  readonly name = "TrieRouter";
  readonly #trie = new TrieRouter<T>();
  readonly #staticPaths = new Set<string>();
  readonly #matches = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (!/[:*?{]/.test(path)) this.#staticPaths.add(path);
    this.#matches.clear();
  }

  match(method: string, path: string): Result<T> {
    if (!this.#staticPaths.has(path)) return this.#trie.match(method, path);
    const key = `${method} ${path}`;
    let result = this.#matches.get(key);
    if (!result) {
      result = this.#trie.match(method, path);
      if (this.#matches.size < REMEMBERED_MATCHES) this.#matches.set(key, result);
    }
    return result;
  }
}

export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    router: new TrieRouterWithStaticMatches(),
    defaultHook: (result) => {
      if (!result.success) {
        const data = (result as { data?: unknown }).data;
        throw new AuthError("invalid_request", "The request is invalid", fieldIssues(result.error.issues, data));
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
  const type = parseMediaType(c.req.header("content-type"));
  if (isFormMediaType(type)) return valid.form();
  if (isJsonMediaType(type)) return valid.json();
  throw new AuthError("invalid_request", "A JSON or multipart body is required", [{ field: "body", message: "is required" }]);
}
