/**
 * Routes of the account-lifecycle pages (API.md §8, §9): GET /delete-account and
 * GET /confirm-email-change. They only render; the work happens in the API routes they post to.
 *
 * @example
 * app.route("/", accountPages);
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { pageSecurity } from "./html";
import type { PagesEnv } from "./html";
import { confirmEmailChangePage } from "./confirm-email-change";
import { deleteAccountPage } from "./delete-account";
import { deletionPageSecurity, deletionWidget } from "./turnstile-widget";

/** These mails take no brand of the app's: the pages show the service's own. */
const ownBrand: MiddlewareHandler<PagesEnv> = async (c, next) => {
  c.set("brand", { platformName: c.get("config").platformName, logoUrl: null, returnUrl: null });
  await next();
};

export const accountPages = new Hono<PagesEnv>()
  .get("/delete-account", ownBrand, deletionPageSecurity, (c) =>
    c.html(deleteAccountPage(c, { platformName: c.get("brand").platformName, widget: deletionWidget(c) })),
  )
  .get("/confirm-email-change", ownBrand, ...pageSecurity, (c) =>
    c.html(confirmEmailChangePage(c, { platformName: c.get("brand").platformName })),
  );
