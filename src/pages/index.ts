/**
 * The service's own pages for mailed links (API.md §7, §8): GET /reset-password and
 * GET /verify-email. Both only render; all work happens in the API routes the pages post to, so a
 * GET, whoever sends it, changes nothing.
 *
 * @example
 * app.route("/", pages);
 * // GET /reset-password?token=…&email=… → the form; GET /verify-email?token=… → the confirm button
 */
import { Hono } from "hono";
import type { AppEnv } from "../http";
import { newNonce, pageHeaders } from "./html";
import { resetPasswordPage } from "./reset-password";
import { verifyEmailPage } from "./verify-email";

export const pages = new Hono<AppEnv>()
  .get("/reset-password", (c) => {
    const { platformName, passwordMinLength } = c.get("config");
    const nonce = newNonce();
    return c.html(resetPasswordPage({ nonce, platformName, minLength: passwordMinLength }), 200, pageHeaders(nonce));
  })
  .get("/verify-email", (c) => {
    const nonce = newNonce();
    return c.html(verifyEmailPage({ nonce, platformName: c.get("config").platformName }), 200, pageHeaders(nonce));
  });
