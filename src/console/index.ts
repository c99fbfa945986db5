/**
 * The admin console (API.md §18): GET /admin, a page for the app's operators that works over the
 * admin API (§10, §16) in the browser, and its style sheet and script, which the service serves
 * itself (/admin/console.css, /admin/console.js). Like /v1/admin, every path here is a 404 while
 * ADMIN_API_KEY is unset. The page holds no secret and no data: the operator types the key, the
 * script keeps it in the tab's sessionStorage and sends it only in the Authorization header of the
 * admin API's calls, which carry that API's rate limit and wrong-key lockout.
 *
 * The page's CSP: nothing by default; scripts and styles only by the response's nonce (the two tags
 * the page writes, both pointing at this origin); fetch only to this origin; no framing
 * (frame-ancestors 'none', X-Frame-Options DENY); no forms, no base URL; Trusted Types required
 * with no policy, so no string can ever reach an HTML or script sink.
 *
 * @example
 * app.route("/", adminConsole);
 * // GET /admin → the page; GET /admin/console.js, /admin/console.css → its script and style
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { adminEnabled } from "../admin/auth";
import type { AppEnv } from "../http";
import { HEADERS_NEVER_SENT } from "../http/middleware";
import { CONSOLE_SCRIPT } from "./client";
import { consolePage } from "./page";
import { CONSOLE_STYLE } from "./style";

interface ConsoleEnv extends AppEnv {
  Variables: AppEnv["Variables"] & { secureHeadersNonce?: string };
}

/** The page's Content-Security-Policy, with a fresh nonce per answer (hono/secure-headers' NONCE). */
const pageHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE],
    styleSrc: [NONCE],
    connectSrc: ["'self'"],
    imgSrc: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    requireTrustedTypesFor: ["'script'"],
    trustedTypes: ["'none'"],
  },
  // The rest (X-Frame-Options DENY, no referrer, HSTS, nosniff…) comes from the service-wide
  // middleware (src/http/middleware.ts securityHeaders), as on every answer; so here only the CSP.
  ...HEADERS_NEVER_SENT,
  strictTransportSecurity: false,
  referrerPolicy: false,
  xFrameOptions: false,
  xContentTypeOptions: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: false,
});

/** Nothing of the console is cached or indexed. */
const noStore: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  await next();
  c.header("Cache-Control", "no-store");
  c.header("X-Robots-Tag", "noindex");
};

export const adminConsole = new Hono<ConsoleEnv>()
  .use("/admin", adminEnabled, noStore)
  .use("/admin/*", adminEnabled, noStore)
  .get("/admin", pageHeaders, (c) =>
    c.html(consolePage({ nonce: c.get("secureHeadersNonce") ?? "", platformName: c.get("config").platformName })),
  )
  .get("/admin/console.js", (c) => c.body(CONSOLE_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }))
  .get("/admin/console.css", (c) => c.body(CONSOLE_STYLE, 200, { "content-type": "text/css; charset=utf-8" }));
