/**
 * The Turnstile gate of a route (API.md §17), and `guarded`, the middleware list of a route it
 * guards: the rate limit first (a refused request is still counted, and a flood is answered 429
 * without calling siteverify), then the body limit and normalisation, then this gate, and only then
 * the route's own work (its validation included). With Turnstile off, or the route not in
 * `TURNSTILE_ROUTES`, the gate only reads the config.
 *
 * The token is read from the `CF-Turnstile-Response` header, else the body: `turnstileToken` in
 * JSON (or `turnstile_token`, renamed by normalizeBody), `cf-turnstile-response` (the field the
 * widget adds to a form) or `turnstileToken` in a form.
 *
 * @example
 * import { guarded } from "./turnstile";
 * createRoute({ method: "post", path: "/guest", middleware: guarded("guest", "guest"), … });
 * createRoute({ …, middleware: [spelled(SNAKE_000), ...guarded("login", "login")] });
 */
import type { MiddlewareHandler } from "hono";
import type { RateLimitBucket } from "../config";
import { requireTurnstile } from "../turnstile";
import type { TurnstileRoute } from "../turnstile";
import { deps } from "./index";
import type { AppContext, AppEnv } from "./index";
import { isFormMediaType, isJsonMediaType, parseMediaType } from "./media-type";
import { limited } from "./middleware";

/** The token in the body, if any (the body was normalised by normalizeBody before this runs). */
async function bodyToken(c: AppContext): Promise<string | undefined> {
  const type = parseMediaType(c.req.header("content-type"));
  try {
    if (isJsonMediaType(type)) {
      const body = JSON.parse(await c.req.text()) as unknown;
      const value = typeof body === "object" && body !== null ? (body as Record<string, unknown>).turnstileToken : undefined;
      return typeof value === "string" ? value : undefined;
    }
    if (isFormMediaType(type)) {
      const form = await c.req.formData();
      const value = form.get("cf-turnstile-response") ?? form.get("turnstileToken");
      return typeof value === "string" ? value : undefined;
    }
  } catch {
    // An empty or unreadable body holds no token; the route's validation names the problem.
  }
  return undefined;
}

/** Checks the request's Turnstile token when Turnstile guards `route`; see the module comment. */
export const turnstile = (route: TurnstileRoute): MiddlewareHandler<AppEnv> => async (c, next) => {
  const settings = c.get("config").turnstile;
  if (!settings?.routes.has(route)) return next();
  const token = c.req.header("cf-turnstile-response") ?? (await bodyToken(c));
  await requireTurnstile(deps(c), settings, token, route);
  await next();
};

/** `limited(bucket, …)` with the Turnstile gate of `route` right after the body is read. */
export const guarded = (bucket: RateLimitBucket, route: TurnstileRoute, ...then: MiddlewareHandler<AppEnv>[]): MiddlewareHandler<AppEnv>[] =>
  limited(bucket, turnstile(route), ...then);
