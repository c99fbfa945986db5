/**
 * Routes of the account-lifecycle pages (API.md §8, §9): GET /delete-account and
 * GET /confirm-email-change. They only render; the work happens in the API routes they post to.
 *
 * @example
 * app.route("/", accountPages);
 */
import { Hono } from "hono";
import type { AppEnv } from "../http";
import { newNonce, pageHeaders } from "./html";
import { confirmEmailChangePage } from "./confirm-email-change";
import { deleteAccountPage } from "./delete-account";

export const accountPages = new Hono<AppEnv>()
  .get("/delete-account", async (c) => {
    const nonce = newNonce();
    return c.html(await deleteAccountPage({ nonce, platformName: c.get("config").platformName }), 200, pageHeaders(nonce));
  })
  .get("/confirm-email-change", async (c) => {
    const nonce = newNonce();
    return c.html(await confirmEmailChangePage({ nonce, platformName: c.get("config").platformName }), 200, pageHeaders(nonce));
  });
