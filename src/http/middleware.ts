/**
 * The HTTP edges every route shares (the entry file of the middleware): config check, request id
 * and one JSON log line per request, security headers, no-store, CORS, bearer authentication, and
 * `limited`, a limited route's chain. The body limit and normalisation (./body.ts), the per-address
 * rate limit (./rate-limit.ts) and the §5 error handlers (./error-handler.ts) live in files of
 * their own and are re-exported here, so every route imports its middleware from this one path.
 *
 * @example
 * app.use("*", configure, requestLog, securityHeaders);
 * app.openapi({ ...route, middleware: [rateLimit("login")] }, handler);
 */
import { cors as honoCors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import type { MiddlewareHandler } from "hono";
import { ConfigError, loadConfig } from "../config";
import type { RateLimitBucket } from "../config";
import { deps } from "./index";
import type { AppEnv } from "./index";
import { log } from "./log";
import { authenticate, requireBearer, verifyBearer } from "../sessions";
import { checkSession } from "../sessions/check";
import { limitBody, normalizeBody } from "./body";
import { rateLimit } from "./rate-limit";

export { limitBody, normalizeBody } from "./body";
export { rateLimit } from "./rate-limit";
export { notFound, onError } from "./error-handler";

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

/** `hono/secure-headers`' options object. */
export type SecureHeadersOptions = NonNullable<Parameters<typeof secureHeaders>[0]>;

/**
 * The base of every `secureHeaders` call in the service: Hono's defaults that this service never
 * sends (Cross-Origin-Embedder-Policy, Origin-Agent-Cluster, X-DNS-Prefetch-Control,
 * X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection), all off. Spread it first.
 *
 * @example
 * secureHeaders({ ...HEADERS_NEVER_SENT, contentSecurityPolicy: { defaultSrc: ["'none'"] } });
 */
export const HEADERS_NEVER_SENT = {
  crossOriginEmbedderPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const satisfies SecureHeadersOptions;

/**
 * The same headers on every answer, through `hono/secure-headers`; a header a route set itself (the
 * pages' and the API reference's own Content-Security-Policy) is kept (`overwrite: false`).
 * Hono's other defaults (Origin-Agent-Cluster, X-XSS-Protection and the like) are off
 * (`HEADERS_NEVER_SENT`): these are the headers this service has always sent, no more.
 */
export const securityHeaders: Middleware = secureHeaders({
  ...HEADERS_NEVER_SENT,
  overwrite: false,
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  xContentTypeOptions: true,
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  crossOriginOpenerPolicy: "same-origin",
  crossOriginResourcePolicy: "same-origin",
  // interest-cohort (FLoC) is not in Hono's list of features, but is still worth refusing.
  permissionsPolicy: { camera: [], microphone: [], geolocation: [], interestCohort: [] } as SecureHeadersOptions["permissionsPolicy"],
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
 * Like `requireAuth`, but the liveness comes from the user's Durable Object (src/sessions/check.ts:
 * no D1 trip when warm) and only the public user is set, as `checked`: for `GET /v1/auth/me`.
 */
export const requireLiveSession: Middleware = async (c, next) => {
  c.set("checked", await checkSession(deps(c), requireBearer(c.req.header("authorization"))));
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
