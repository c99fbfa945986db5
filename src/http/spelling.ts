/**
 * Field names as each door's document spells them (API.md §5): a compatibility route declares the
 * spelling of its fields (canonical camelCase name → the document's name), its body reaches the
 * validator in those names, and every `details[].field` of its errors names them so, whether the
 * validator or a service (which knows only canonical names) raised them.
 *
 * @example
 * createRoute({ …, middleware: [spelled({ refreshToken: "refresh_token" }), ...limited("refresh")] })
 * // a missing refresh token → details: [{ field: "refresh_token", message: "is required" }]
 */
import type { MiddlewareHandler } from "hono";
import type { FieldIssue } from "./errors";
import type { AppEnv } from "./index";

import type { Spelling } from "../types";

export type { Spelling } from "../types";

/** Declares the route's spelling; put it before `limited(…)`. */
export const spelled = (spelling: Spelling): MiddlewareHandler<AppEnv> => async (c, next) => {
  c.set("spelling", spelling);
  await next();
};

/** Renames the top-level keys of an object body from canonical names to the door's. */
export function respell(body: unknown, spelling: Spelling | undefined): unknown {
  if (!spelling || typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = Object.hasOwn(spelling, key) ? spelling[key]! : key;
    if (!(name in out) || name === key) out[name] = value;
  }
  return out;
}

/** The error details with each field's first segment in the door's spelling. */
export function respellIssues(issues: readonly FieldIssue[], spelling: Spelling | undefined): FieldIssue[] {
  if (!spelling) return [...issues];
  return issues.map((issue) => {
    const [head, ...rest] = issue.field.split(".");
    const name = head !== undefined && Object.hasOwn(spelling, head) ? spelling[head]! : head;
    return { ...issue, field: [name, ...rest].join(".") };
  });
}
