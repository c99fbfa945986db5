/**
 * The HTTP edges every route shares: config check, request id and one JSON log line per request,
 * security headers, CORS, body limits and body normalisation (snake_case accepted everywhere), the
 * per-address rate limit, bearer authentication, and the §5 error shape for everything thrown.
 *
 * @example
 * app.use("*", configure, requestLog, securityHeaders);
 * app.openapi({ ...route, middleware: [rateLimit("login")] }, handler);
 */
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { cors as honoCors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import type { ErrorHandler, MiddlewareHandler, NotFoundHandler } from "hono";
import { ConfigError, loadConfig } from "../config";
import type { RateLimitBucket } from "../config";
import { AuthError, goneUserError } from "./errors";
import type { ErrorCode } from "./errors";
import { deps } from "./index";
import type { AppEnv } from "./index";
import { log } from "./log";
import { respell, respellIssues } from "./spelling";
import { isFormMediaType, isJsonMediaType, parseMediaType } from "./media-type";
import { LimiterUnavailable, limitByAddress } from "../rate-limit";
import { authenticate, verifyBearer } from "../sessions";

type Middleware = MiddlewareHandler<AppEnv>;

const reportedConfigErrors = new WeakSet<object>();

/**
 * Sets a header on the final answer in place. Hono's `c.header()` copies the whole Response first
 * once the answer is final, in case its headers are immutable (a fetched Response's are): ~8 µs per
 * call in workerd. Every answer here is built by Hono's `c.json()` and the like, with mutable
 * headers; the copy is still made if setting throws.
 */
function setHeader(c: Parameters<Middleware>[0], name: string, value: string) {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.header(name, value);
  }
}

export const configure: Middleware = async (c, next) => {
  try {
    c.set("config", loadConfig(c.env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (!reportedConfigErrors.has(c.env)) {
      reportedConfigErrors.add(c.env);
      log("error", "config.invalid", { reasons: error.reasons });
    }
    return c.json({ statusCode: 503, error: "unavailable", message: "The service is not configured; see its logs" }, 503);
  }
  await next();
};

export const requestLog: Middleware = async (c, next) => {
  const requestId = crypto.randomUUID();
  c.set("requestId", requestId);
  const started = Date.now();
  await next();
  setHeader(c, "X-Request-Id", requestId);
  // The route pattern, not the path: paths may hold an email (document 001's password-reset).
  log(c.res.status >= 500 ? "error" : "info", "request", {
    requestId,
    method: c.req.method,
    route: c.req.routePath,
    status: c.res.status,
    ms: Date.now() - started,
    colo: (c.req.raw.cf as { colo?: string } | undefined)?.colo,
  });
};

/**
 * The same headers on every answer, through `hono/secure-headers`; a header a route set itself (the
 * pages' and the API reference's own Content-Security-Policy) is kept (`overwrite: false`).
 * Hono's other defaults (Origin-Agent-Cluster, X-XSS-Protection and the like) are off: these are the
 * headers this service has always sent, no more.
 */
export const securityHeaders: Middleware = secureHeaders({
  overwrite: false,
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  xContentTypeOptions: true,
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  crossOriginOpenerPolicy: "same-origin",
  crossOriginResourcePolicy: "same-origin",
  // interest-cohort (FLoC) is not in Hono's list of features, but is still worth refusing.
  permissionsPolicy: { camera: [], microphone: [], geolocation: [], interestCohort: [] } as NonNullable<Parameters<typeof secureHeaders>[0]>["permissionsPolicy"],
  crossOriginEmbedderPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
});

/** Token answers must never be cached (RFC 6749 §5.1); so, simply, no auth answer is. */
export const noStore: Middleware = async (c, next) => {
  await next();
  if (c.res.headers.has("Cache-Control")) return;
  setHeader(c, "Cache-Control", "no-store");
  setHeader(c, "Pragma", "no-cache");
};

/**
 * CORS for the configured origins (CORS_ORIGINS), through `hono/cors`, built once: the origin is
 * checked against the request's config. (Writing it out by hand saved ~15 µs per request, within
 * the bench's noise; headers stay with Hono's own middleware.)
 */
export const cors: Middleware = honoCors({
  origin: (origin, c) => ((c as Parameters<Middleware>[0]).get("config").corsOrigins.includes(origin) ? origin : null),
  allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type"],
  exposeHeaders: ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Request-Id"],
  maxAge: 600,
});

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

/**
 * Buckets served without a limit while the limiter is down. Their inputs are a 256-bit refresh
 * token or an authenticated session, which no one can guess, so the limit only spreads load; and
 * failing closed would turn a limiter outage into every client losing its session at the next
 * refresh, or into no one being able to sign out or end a stolen session.
 */
const FAIL_OPEN: ReadonlySet<RateLimitBucket> = new Set(["refresh", "signout", "sessions"]);

function rateHeaders(c: Parameters<Middleware>[0], d: { limit: number; remaining: number; reset: number }) {
  c.header("RateLimit-Limit", String(d.limit));
  c.header("RateLimit-Remaining", String(d.remaining));
  c.header("RateLimit-Reset", String(d.reset));
}

/**
 * One call to the caller's RateLimiter object (API.md §6); the RateLimit-* headers go on every
 * answer it decided, success or error, and a refusal is a 429 with Retry-After. When the limiter
 * throws or cannot be reached, every bucket but FAIL_OPEN's fails closed with a 503 (Retry-After:
 * 5): guest, login, register, upgrade, recovery and reset guard passwords, account creation and
 * mail, where an outage must not become an unlimited door for guessing or mail bombing. FAIL_OPEN
 * answers then carry no RateLimit-* headers, since nothing was counted.
 */
export const rateLimit = (bucket: RateLimitBucket): Middleware => async (c, next) => {
  let decision;
  try {
    decision = await limitByAddress(deps(c), bucket);
  } catch (error) {
    if (!(error instanceof LimiterUnavailable)) throw error;
    log("error", "ratelimit.unavailable", { requestId: c.get("requestId"), bucket, reason: String(error.cause).slice(0, 200) });
    if (FAIL_OPEN.has(bucket)) return next();
    throw new AuthError("unavailable", "The service is busy; try again shortly", undefined, 5);
  }
  rateHeaders(c, decision);
  if (!decision.allowed) throw new AuthError("rate_limited", "Too many requests; try again later", undefined, decision.retryAfter);
  await next();
  rateHeaders(c, decision);
};

/**
 * A limited route's middleware: the limiter first, so every request is counted and every answer
 * (a malformed or oversized body too) carries the RateLimit-* headers; then the body limit and the
 * body normalisation, then whatever the route adds (`requireAuth`).
 */
export const limited = (bucket: RateLimitBucket, ...then: Middleware[]): Middleware[] => [
  rateLimit(bucket), limitBody, normalizeBody, ...then,
];

export const requireAuth: Middleware = async (c, next) => {
  c.set("auth", await authenticate(deps(c), c.req.header("authorization")));
  await next();
};

/**
 * Like `requireAuth` for the signature and claims (401 first, before the route's validation), with
 * no D1 read: the route's own read checks the session's liveness in the same round trip.
 */
export const requireClaims: Middleware = async (c, next) => {
  c.set("claims", await verifyBearer(deps(c), c.req.header("authorization")));
  await next();
};

const HTTP_CODES: Record<number, ErrorCode> = {
  400: "invalid_request",
  401: "invalid_token",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof HTTPException) {
    const code = HTTP_CODES[error.status] ?? "invalid_request";
    const message = error.status === 400 ? "The body is not valid JSON" : error.message || code;
    return new AuthError(code, message, error.status === 400 ? [{ field: "body", message }] : undefined);
  }
  return goneUserError(error) ?? new AuthError("internal", "Something went wrong on our side");
}

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  let authError = toAuthError(error);
  const spelling = c.get("spelling");
  if (spelling && authError.details) {
    authError = new AuthError(authError.code, authError.message, respellIssues(authError.details, spelling), authError.retryAfter);
  }
  if (authError.code === "internal") {
    // Name and message only: a stack or a cause may quote request data.
    log("error", "unhandled", {
      requestId: c.get("requestId"),
      route: c.req.routePath,
      name: error instanceof Error ? error.name : typeof error,
      // Drizzle quotes bound parameters after "params:"; they may be hashes or emails.
      message: error instanceof Error ? error.message.split(/params:/i)[0]!.slice(0, 200) : undefined,
    });
  }
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a bearer token's problem names `invalid_token`; other 401s (a wrong password, an
  // unverified address) are no token problem, so the challenge carries no error code (`invalid_request`
  // belongs with a 400).
  if (authError.status === 401) headers["WWW-Authenticate"] = authError.code === "invalid_token" ? 'Bearer error="invalid_token"' : "Bearer";
  if (authError.retryAfter !== undefined) headers["Retry-After"] = String(authError.retryAfter);
  // Fields beyond §5's (mfa_required's mfaToken) in the door's spelling, as its document names them.
  return c.json(respell(authError.toJSON(), spelling) as ReturnType<AuthError["toJSON"]>, authError.status as 400, headers);
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(new AuthError("not_found", "No such route").toJSON(), 404);
