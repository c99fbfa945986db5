/**
 * The Turnstile widget on the service's own /delete-account page (API.md §9, §17): what the page
 * shows of it, decided per request from the settings (src/turnstile/settings.ts), and the headers
 * that go with it. The widget appears only on the email form (no `?token=`) and only while
 * Turnstile guards `request-deletion`; without a site key the form cannot work, so the page says so.
 * Otherwise (Turnstile off, the route not guarded, or a mailed link being confirmed) the page is
 * exactly what it is without Turnstile, its strict CSP included.
 *
 * @example
 * import { deletionWidget, deletionPageSecurity } from "./turnstile-widget";
 * pages.get("/delete-account", ownBrand, deletionPageSecurity, (c) => c.html(deleteAccountPage(c, { platformName, widget: deletionWidget(c) })));
 * // deletionWidget(c): { kind: "off" } | { kind: "unavailable" } | { kind: "widget", siteKey, scriptSrc, origin }
 */
import type { Context, MiddlewareHandler } from "hono";
import { pageSecurity, widgetPageSecurity } from "./html";
import type { PagesEnv } from "./html";

/** The name of the global function Turnstile's `api.js` calls once loaded (its `onload` parameter). */
export const WIDGET_ONLOAD = "edgeAuthTurnstileLoaded";

/**
 * What the deletion page shows: no widget (`off`), a plain "cannot be used here" in place of the
 * email form (`unavailable`: guarded, but `TURNSTILE_SITE_KEY` unset), or the widget: its site key,
 * the script to load (explicit rendering, `onload` = WIDGET_ONLOAD) and that script's origin (the CSP's).
 */
export type DeletionWidget =
  | { kind: "off" }
  | { kind: "unavailable" }
  | { kind: "widget"; siteKey: string; scriptSrc: string; origin: string };

/** The deletion page's widget for this request; see DeletionWidget. */
export function deletionWidget(c: Context<PagesEnv>): DeletionWidget {
  const settings = c.get("config").turnstile;
  if (!settings?.routes.has("request-deletion") || c.req.query("token")) return { kind: "off" };
  if (!settings.siteKey) return { kind: "unavailable" };
  const script = new URL(settings.scriptUrl);
  script.searchParams.set("render", "explicit");
  script.searchParams.set("onload", WIDGET_ONLOAD);
  return { kind: "widget", siteKey: settings.siteKey, scriptSrc: script.href, origin: script.origin };
}

const secured = new Map<string, MiddlewareHandler<PagesEnv>[]>();

/** The deletion page's headers: `pageSecurity`, or with the widget its origin allowed (html.ts, pageHeaders). */
export const deletionPageSecurity: MiddlewareHandler<PagesEnv> = async (c, next) => {
  const widget = deletionWidget(c);
  let chain = pageSecurity;
  if (widget.kind === "widget") {
    chain = secured.get(widget.origin) ?? widgetPageSecurity(widget.origin);
    secured.set(widget.origin, chain);
  }
  const [headers, noStore] = chain as [MiddlewareHandler<PagesEnv>, MiddlewareHandler<PagesEnv>];
  await headers(c, async () => {
    await noStore(c, next);
  });
};
