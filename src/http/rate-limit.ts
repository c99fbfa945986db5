/**
 * The per-address rate limit as middleware (API.md §6): one call to the caller's RateLimiter object
 * (src/rate-limit) per request, the RateLimit-* headers on every answer it decided, a 429 with
 * Retry-After on refusal, and the fail-open/fail-closed rule for a limiter outage. Re-exported by
 * src/http/middleware.ts, the HTTP edges' entry file.
 *
 * @example
 * import { rateLimit } from "./rate-limit";
 * app.openapi({ ...route, middleware: [rateLimit("login")] }, handler);
 */
import type { MiddlewareHandler } from "hono";
import type { RateLimitBucket } from "../config";
import { AuthError } from "./errors";
import { deps } from "./index";
import type { AppEnv } from "./index";
import { log } from "./log";
import { LimiterUnavailable, limitByAddress } from "../rate-limit";

type Middleware = MiddlewareHandler<AppEnv>;

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
