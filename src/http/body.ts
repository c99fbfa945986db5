/**
 * The request body's edges: the size limit (BODY_LIMIT_BYTES, or UPLOAD_LIMIT_BYTES for multipart)
 * and the normalisation every route's validator reads through: JSON parsed once (malformed → 400),
 * snake_case keys renamed to camelCase (API.md §1), the door's spelling applied, and every RFC 9110
 * spelling of a JSON or form media type handed on under the canonical one. Re-exported by
 * src/http/middleware.ts, the HTTP edges' entry file.
 *
 * @example
 * import { limitBody, normalizeBody } from "./body";
 * app.openapi({ ...route, middleware: [limitBody, normalizeBody] }, handler);
 */
import { bodyLimit } from "hono/body-limit";
import type { MiddlewareHandler } from "hono";
import { AuthError } from "./errors";
import type { AppEnv } from "./index";
import { respell } from "./spelling";
import { isFormMediaType, isJsonMediaType, parseMediaType } from "./media-type";

type Middleware = MiddlewareHandler<AppEnv>;

const tooLarge = () => {
  throw new AuthError("payload_too_large", "The request body is too large");
};

export const limitBody: Middleware = (c, next) => {
  const { bodyLimitBytes, uploadLimitBytes } = c.get("config");
  const multipart = /^multipart\/form-data/i.test(c.req.header("content-type") ?? "");
  return bodyLimit({ maxSize: multipart ? uploadLimitBytes + 65_536 : bodyLimitBytes, onError: tooLarge })(c, next);
};

const camel = (key: string) => key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** Renames snake_case keys of a JSON object body; drops `__proto__`-style keys. */
function camelizeKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") continue;
    const name = camel(key);
    if (!(name in out) || name === key) out[name] = inner;
  }
  return out;
}

/** Hands the rest of the request (the route's validators) `body` under a canonical Content-Type. */
function replaceBody(c: Parameters<Middleware>[0], body: string | FormData | URLSearchParams | null, contentType?: string) {
  const raw = c.req.raw;
  const headers = new Headers(raw.headers);
  headers.delete("content-type");
  headers.delete("content-length");
  if (contentType) headers.set("content-type", contentType);
  // A GET or HEAD may arrive with a body (Workers allow it), but a new Request may not carry one.
  const bodyless = raw.method === "GET" || raw.method === "HEAD";
  c.req.raw = new Request(raw.url, { method: raw.method, headers, body: bodyless ? null : body, cf: raw.cf } as RequestInit);
  c.req.bodyCache = {};
}

/**
 * Parses JSON bodies once (malformed → 400), renames snake_case fields to camelCase, and hands the
 * result to the route's validator under the canonical `application/json`, so every RFC 9110
 * spelling of a JSON media type (parameters, case, whitespace, a `+json` suffix) is read alike.
 * An empty JSON body is no body. Form bodies get the same renaming.
 */
export const normalizeBody: Middleware = async (c, next) => {
  const type = parseMediaType(c.req.header("content-type"));
  if (isJsonMediaType(type)) {
    const text = await c.req.text();
    if (text.trim() === "") {
      replaceBody(c, null);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new AuthError("invalid_request", "The body is not valid JSON", [{ field: "body", message: "is not valid JSON" }]);
      }
      const json = JSON.stringify(respell(camelizeKeys(parsed), c.get("spelling")));
      // Under the canonical type already (most clients), the request need not be rebuilt (a new
      // Headers and Request per call): the validators read the body from the cache below, and no
      // one reads the raw request's body after this.
      if (c.req.header("content-type") === "application/json") c.req.bodyCache = {};
      else replaceBody(c, json, "application/json");
      // Hono's body cache holds promises, though its type names the resolved values.
      (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(json);
    }
  } else if (isFormMediaType(type)) {
    let form: FormData;
    try {
      form = await c.req.formData();
    } catch {
      throw new AuthError("invalid_request", "The form body is malformed", [{ field: "body", message: "is malformed" }]);
    }
    const renamed = new FormData();
    const spelling = c.get("spelling");
    form.forEach((value, key) => {
      const name = camel(key);
      renamed.append(spelling && Object.hasOwn(spelling, name) ? spelling[name]! : name, value);
    });
    try {
      // Without a Content-Type the runtime writes the canonical one (with a fresh boundary). It
      // refuses field names multipart cannot carry (one ending in a backslash): the client's fault.
      replaceBody(c, renamed);
    } catch {
      throw new AuthError("invalid_request", "The form body is malformed", [{ field: "body", message: "has a field name that cannot be used" }]);
    }
    (c.req.bodyCache as { formData?: Promise<FormData> }).formData = Promise.resolve(renamed);
  }
  await next();
};
