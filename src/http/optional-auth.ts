/**
 * Authenticates the caller when it sent an Authorization header (a bad or ended token is a 401, so
 * a client never silently loses what the token stood for); otherwise the route runs with no `auth`.
 * For the sign-in routes that act on a guest's behalf when it calls (email code, ID token, login).
 *
 * @example
 * createRoute({ ..., middleware: limited("login", optionalAuth) });
 * const auth = c.get("auth") as Auth | undefined;
 */
import type { MiddlewareHandler } from "hono";
import { authenticate } from "../sessions";
import { deps } from ".";
import type { AppEnv } from ".";

export const optionalAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization");
  if (header !== undefined) c.set("auth", await authenticate(deps(c), header));
  await next();
};
