/**
 * The service's own pages for mailed links (API.md §7, §8): GET /reset-password and
 * GET /verify-email. Both only render; all work happens in the API routes the pages post to, so a
 * GET, whoever sends it, changes nothing. Each shows the brand stored with its token (the mail's
 * platform name, logo and app), read without spending the token; an unknown, used or expired
 * token shows the service's own brand (the page then explains the link is spent when used).
 *
 * @example
 * app.route("/", pages);
 * // GET /reset-password?token=…&email=… → the form; GET /verify-email?token=… → the confirm button
 */
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { findBrand } from "../one-time-tokens";
import type { TokenPurpose } from "../one-time-tokens";
import { pageSecurity } from "./html";
import type { PagesEnv } from "./html";
import { resetPasswordPage } from "./reset-password";
import { verifyEmailPage } from "./verify-email";

/** Sets `brand` from the token in the query (peeked, never spent), or the service's own. */
const brandOf = (purpose: TokenPurpose): MiddlewareHandler<PagesEnv> => async (c, next) => {
  const token = c.req.query("token") ?? "";
  const stored = token ? await findBrand(drizzle(c.env.DB), token, purpose) : null;
  c.set("brand", {
    platformName: stored?.platformName ?? c.get("config").platformName,
    logoUrl: stored?.logoUrl ?? null,
    returnUrl: stored?.returnUrl ?? null,
  });
  await next();
};

export const pages = new Hono<PagesEnv>()
  .get("/reset-password", brandOf("reset_password"), ...pageSecurity, (c) =>
    c.html(resetPasswordPage(c, { brand: c.get("brand"), minLength: c.get("config").passwordMinLength })),
  )
  .get("/verify-email", brandOf("verify_email"), ...pageSecurity, (c) => c.html(verifyEmailPage(c, { brand: c.get("brand") })));
