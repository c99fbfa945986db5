/**
 * The admin API's gate (API.md §10): off (404 on every path, before anything else runs) unless
 * ADMIN_API_KEY is set; otherwise `Authorization: Bearer <ADMIN_API_KEY>`, compared in constant
 * time (the SHA-256 of each side, so neither the content nor the length of the key leaks). A wrong
 * or missing key is a 401, and also counts as a failed login of the caller's address: it takes one
 * request of the `login` bucket too (docs/admin-api.md), so a guesser is held to the stricter of the two.
 *
 * @example
 * admin.use("*", adminEnabled);
 * createRoute({ ..., middleware: limited("admin", requireAdminKey) });
 */
import type { MiddlewareHandler } from "hono";
import { sha256 } from "../crypto";
import { deps } from "../http";
import type { AppEnv } from "../http";
import { AuthError } from "../http/errors";
import { notFound } from "../http/middleware";
import { LimiterUnavailable, limitByAddress } from "../rate-limit";

type Middleware = MiddlewareHandler<AppEnv>;

const encoder = new TextEncoder();

/** The credential of `Authorization: Bearer <key>`; any printable key (base64 too), not only a JWT's alphabet. */
const presentedKey = (header: string | undefined) => (header ? /^Bearer[ ]+([\x21-\x7e]{1,512})$/i.exec(header.trim())?.[1] ?? null : null);

/** Equal digests of the key and the presented value; constant time, whatever the lengths. */
export async function adminKeyMatches(expected: string, presented: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(expected), sha256(presented)]);
  return crypto.subtle.timingSafeEqual(encoder.encode(a), encoder.encode(b));
}

/** 404 for every /v1/admin path while ADMIN_API_KEY is unset. */
export const adminEnabled: Middleware = async (c, next) => {
  if (!c.get("config").adminApiKey) return notFound(c);
  await next();
};

export const requireAdminKey: Middleware = async (c, next) => {
  const key = c.get("config").adminApiKey;
  const presented = presentedKey(c.req.header("authorization"));
  if (!key || !presented || !(await adminKeyMatches(key, presented))) {
    let allowed = true;
    let retryAfter = 60;
    try {
      const decision = await limitByAddress(deps(c), "login");
      allowed = decision.allowed;
      retryAfter = decision.retryAfter;
    } catch (error) {
      if (!(error instanceof LimiterUnavailable)) throw error;
    }
    if (!allowed) throw new AuthError("rate_limited", "Too many failed attempts; try again later", undefined, retryAfter);
    throw new AuthError("invalid_token", "A valid admin key is required");
  }
  await next();
};
