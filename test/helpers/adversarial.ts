/**
 * What adversarial tests share: every route of the OpenAPI document, the §5 error-shape check, D1
 * snapshots for "no state change on a rejected request", and the fuzz seed.
 */
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { call, json } from "./http";
import type { Json } from "./http";

/** One operation of the service's OpenAPI document, as adversarial tests attack it. */
export interface ApiRoute {
  method: string;
  /** With `{name}` placeholders for path parameters. */
  path: string;
  /** A Bearer token is required (not merely accepted). */
  bearer: boolean;
  /** Top-level JSON body fields (camelCase), when the operation takes a JSON body. */
  fields: string[];
  params: string[];
}

/** Every operation /openapi.json describes, so that routes added later are attacked too. */
export async function apiRoutes(): Promise<ApiRoute[]> {
  const document = await json(await call("/openapi.json"));
  const resolve = (schema: Json): Json =>
    schema?.$ref ? resolve(document.components.schemas[String(schema.$ref).split("/").pop()!]) : schema;
  const fieldsOf = (schema: Json): string[] => {
    const s = resolve(schema);
    if (!s) return [];
    const nested = [...(s.allOf ?? []), ...(s.anyOf ?? []), ...(s.oneOf ?? [])].flatMap(fieldsOf);
    return [...new Set([...Object.keys(s.properties ?? {}), ...nested])];
  };
  const routes: ApiRoute[] = [];
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(operations)) {
      routes.push({
        method: method.toUpperCase(),
        path,
        // Required only: `{}` beside it in `security` means the token is optional (a guest upgrading).
        bearer: Boolean(operation?.security?.some((s: Json) => "bearerAuth" in s) && !operation?.security?.some((s: Json) => Object.keys(s).length === 0)),
        fields: fieldsOf(operation?.requestBody?.content?.["application/json"]?.schema),
        params: (operation?.parameters ?? []).filter((p: Json) => p.in === "path").map((p: Json) => p.name as string),
      });
    }
  }
  return routes;
}

const ERROR_CODES: Record<number, string[]> = {
  400: ["invalid_request"],
  401: ["invalid_credentials", "email_not_verified", "invalid_token"],
  403: ["forbidden"],
  404: ["not_found"],
  409: ["conflict"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
  429: ["rate_limited"],
};

/**
 * What is wrong with an error answer's shape (API.md §5), or null: JSON `{ statusCode, error,
 * message, details? }` with the code that belongs to the status, a Bearer challenge on 401 and
 * Retry-After on 429.
 */
export function errorShapeProblem(response: Response, text: string): string | null {
  const status = response.status;
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    return `${status} is not JSON: ${text.slice(0, 80)}`;
  }
  if (!/^application\/json/.test(response.headers.get("content-type") ?? "")) return `${status} has content-type ${response.headers.get("content-type")}`;
  if (body?.statusCode !== status) return `statusCode ${body?.statusCode} on a ${status}`;
  if (!(ERROR_CODES[status] ?? []).includes(body.error)) return `error "${body.error}" on a ${status}`;
  if (typeof body.message !== "string" || body.message === "") return "no message";
  const allowed = new Set(["statusCode", "error", "message", "details"]);
  if (Object.keys(body).some((k) => !allowed.has(k))) return `extra keys ${Object.keys(body)}`;
  if (body.details !== undefined) {
    if (!Array.isArray(body.details) || body.details.some((d: Json) => typeof d?.field !== "string" || typeof d?.message !== "string")) {
      return "malformed details";
    }
  }
  if (status === 401 && !/^Bearer\b/.test(response.headers.get("www-authenticate") ?? "")) return "401 without a Bearer challenge";
  if (status === 429 && !/^\d+$/.test(response.headers.get("retry-after") ?? "")) return "429 without Retry-After";
  return null;
}

/** Counts of what a request could change in D1: a rejected request must leave all of them alone. */
export async function stateSnapshot(): Promise<Record<string, unknown>> {
  const row = await env.DB.prepare(
    `SELECT (SELECT count(*) FROM users) AS users,
            (SELECT count(*) FROM users WHERE is_guest = 0) AS fullUsers,
            (SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL) AS verified,
            (SELECT max(updated_at) FROM users) AS lastUserUpdate,
            (SELECT count(*) FROM sessions) AS sessions,
            (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL) AS revoked,
            (SELECT max(last_used_at) FROM sessions) AS lastSessionUse,
            (SELECT count(*) FROM one_time_tokens) AS oneTimeTokens,
            (SELECT count(*) FROM one_time_tokens WHERE used_at IS NOT NULL) AS usedTokens,
            (SELECT count(*) FROM mail_outbox) AS mails`,
  ).first();
  return row ?? {};
}

/** Waits until work after an answer (mail, `waitUntil`) has landed: two equal snapshots in a row. */
export async function settledSnapshot(timeoutMs = 2000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = await stateSnapshot();
  for (;;) {
    // Long enough for mail sent after the answer (recovery pads its timing by ~25 ms) on a loaded
    // machine: at 40 ms a late outbox row was once taken for a change made by the next request.
    await new Promise((r) => setTimeout(r, 120));
    const next = await stateSnapshot();
    if (JSON.stringify(next) === JSON.stringify(last) || Date.now() > deadline) return next;
    last = next;
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** From the FC_SEED environment variable (vitest.config.ts); "" when unset. */
    FC_SEED: string;
  }
}

/** The fast-check seed of this run: FC_SEED when given (to replay a failure), else a random one. */
export function fuzzSeed(): number {
  const given = Number.parseInt(inject("FC_SEED"), 10);
  return Number.isInteger(given) ? given : crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1;
}
