/**
 * The frame of the service's own pages (/reset-password, /verify-email, /delete-account,
 * /confirm-email-change): one small HTML document,
 * rendered with `hono/html` (every value escaped), whose inline style and script run only under the
 * per-response CSP nonce of `hono/secure-headers`, and the headers that keep a mailed token private:
 * no referrer, no caching, no framing, no form submission (the script posts JSON itself; without it
 * nothing, and above all no password, can leave in a URL). The page carries the brand of the mail
 * that linked to it (kept with the token, src/one-time-tokens), never one taken from the URL.
 *
 * @example
 * import { pageSecurity, renderPage } from "./html";
 * pages.get("/x", ...pageSecurity, (c) => c.html(renderPage(c, { title: "Hi", body: html`<h1>Hi</h1>`, script: "…" })));
 */
import type { Context, MiddlewareHandler } from "hono";
import { html, raw } from "hono/html";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { HtmlEscapedString } from "hono/utils/html";
import type { AppEnv } from "../http";

/** The brand a page shows: its platform name, an optional logo and where "back to the app" goes. */
export interface PageBrand {
  platformName: string;
  logoUrl: string | null;
  returnUrl: string | null;
}

export interface PagesEnv extends AppEnv {
  Variables: AppEnv["Variables"] & { brand: PageBrand; secureHeadersNonce?: string };
}

type PageContext = Context<PagesEnv>;

/** The logo's origin may serve the one image; nothing else may load. */
const logoSource = (c: PageContext) => {
  const logo = c.get("brand")?.logoUrl;
  return logo ? new URL(logo).origin : "'none'";
};

/**
 * The pages' headers: CSP with a fresh nonce (hono/secure-headers' NONCE), no referrer, no
 * caching, no indexing. Put after the middleware that sets the brand, so the logo's origin is known.
 */
export const pageSecurity: MiddlewareHandler<PagesEnv>[] = [secureHeaders(pageHeaders()), noStore];

/** No caching, no indexing: the second half of `pageSecurity`. */
async function noStore(c: Context<PagesEnv>, next: () => Promise<void>) {
  await next();
  c.header("Cache-Control", "no-store");
  c.header("X-Robots-Tag", "noindex");
}

/**
 * The pages' secure-headers options. With `widgetOrigin` (a page showing the Turnstile widget,
 * src/pages/turnstile-widget.ts) the CSP also lets that one origin run scripts and frames, as
 * Cloudflare documents for Turnstile (`script-src` and `frame-src`), and leaves out
 * `require-trusted-types-for` (SECURITY.md, "The deletion page's widget"); without it, the strict policy.
 */
export function pageHeaders(widgetOrigin?: string): Parameters<typeof secureHeaders>[0] {
  return {
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: widgetOrigin ? [NONCE, widgetOrigin] : [NONCE],
      styleSrc: [NONCE],
      imgSrc: [(c) => logoSource(c as PageContext)],
      connectSrc: ["'self'"],
      ...(widgetOrigin ? { frameSrc: [widgetOrigin] } : {}),
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      ...(widgetOrigin ? {} : { requireTrustedTypesFor: ["'script'"] }),
    },
    referrerPolicy: "no-referrer",
    xFrameOptions: "DENY",
  };
}

/** `pageSecurity` for a page that shows the Turnstile widget loaded from `widgetOrigin`. */
export const widgetPageSecurity = (widgetOrigin: string): MiddlewareHandler<PagesEnv>[] => [secureHeaders(pageHeaders(widgetOrigin)), noStore];

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111;background:#f6f7f9}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{width:100%;padding:.6rem;border:1px solid #767676;border-radius:4px;font:inherit}
input[readonly]{background:#f0f0f0}
.hint{font-size:.875rem;color:#555;margin:.25rem 0 0}
button{margin-top:1.25rem;width:100%;padding:.7rem;border:0;border-radius:4px;background:#1a56db;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.danger{background:#b42318}
button:disabled{opacity:.6;cursor:wait}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
#outcome:empty{display:none}
#outcome{margin:1rem 0 0;padding:.75rem;border-radius:4px;background:#eef2ff}
#outcome[data-kind=success]{background:#e7f6ec;color:#0f5132}
#outcome[data-kind=error]{background:#fdecea;color:#842029}
.brand{margin:0 0 1rem}.brand img{max-width:100%;height:40px;object-fit:contain}
#next{margin:1rem 0 0;font-weight:600}
.turnstile{margin-top:1rem;min-height:65px}
[hidden]{display:none!important}
`;

export interface PageInput {
  title: string;
  /** Rendered with `html`, so every value in it is escaped. */
  body: HtmlEscapedString | Promise<HtmlEscapedString>;
  /** Trusted script text (constant). */
  script: string;
  /** An outside script (the Turnstile widget's URL, from the settings), loaded after `script` with the nonce. */
  externalScript?: string | undefined;
}

/** The brand's heading: the logo (when the mail had one) and the platform name. */
export const brandHeader = (brand: PageBrand) =>
  brand.logoUrl ? html`<p class="brand"><img src="${brand.logoUrl}" alt="${brand.platformName}" height="40"></p>` : "";

/** The success state's way back to the app the mail was sent for; hidden until the script shows it. */
export const returnLink = (brand: PageBrand) =>
  brand.returnUrl ? html`<p id="next" hidden><a id="return" href="${brand.returnUrl}">Back to ${brand.platformName}</a></p>` : "";

export function renderPage(c: PageContext, input: PageInput) {
  const nonce = c.get("secureHeadersNonce") ?? "";
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${input.title}</title>
<style nonce="${nonce}">${raw(STYLE)}</style>
</head>
<body>
<main>
${input.body}
<noscript><p>This page needs JavaScript to talk to the service. Turn it on and open the link again.</p></noscript>
</main>
<script nonce="${nonce}">${raw(input.script)}</script>
${input.externalScript ? html`<script nonce="${nonce}" src="${input.externalScript}" async defer></script>
` : ""}</body>
</html>`;
}

/**
 * Script shared by the pages (run first in each page's script): reads `token` and `email` from the
 * address, then removes them from the address bar and history at once, and offers `show()` for
 * outcomes (a live region), `post()` for the API (JSON, no credentials, no cache), `fieldIssue()` and
 * `tokenIssue()` to read a §5 error's details, and `spendToken(box, button, pending, request,
 * { spent, conflict?, succeeded })` for a button that spends the mailed token: it shows `box`, focuses
 * `button`, and each click calls `request()` (the page's `post(…, { token })`), showing `pending`
 * meanwhile. A success hides the box and calls `succeeded(result)`; a 409 (when `conflict` is given,
 * it is the message) and a spent link (`spent` says what to do next) hide it too; too many attempts
 * and other failures leave it.
 */
export const PAGE_SCRIPT_PRELUDE = `
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const email = params.get("email") || "";
if (location.search) history.replaceState(null, "", location.pathname);
const $ = (id) => document.getElementById(id);
const outcome = $("outcome");
function showNext() {
  const next = $("next");
  if (next) next.hidden = false;
}
function show(text, kind, focus) {
  outcome.textContent = text;
  outcome.dataset.kind = kind;
  if (focus) outcome.focus();
}
async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, ok: response.ok, data };
}
function fieldIssue(data, field) {
  return (Array.isArray(data.details) ? data.details : []).find((d) => d && d.field === field);
}
function tokenIssue(data) {
  return Boolean(fieldIssue(data, "token"));
}
function spendToken(box, button, pending, request, { spent, conflict, succeeded }) {
  box.hidden = false;
  button.focus();
  button.addEventListener("click", async () => {
    button.disabled = true;
    show(pending, "pending", false);
    try {
      const result = await request();
      if (result.ok) { box.hidden = true; succeeded(result); }
      else if (conflict && result.status === 409) { box.hidden = true; show(conflict, "error", true); }
      else if (result.status === 429) show("Too many attempts. Wait a minute, then try again.", "error", true);
      else if (tokenIssue(result.data)) { box.hidden = true; show("This link is invalid, already used or expired. " + spent, "error", true); }
      else show("That did not work (" + (result.data.message || result.status) + "). Try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      button.disabled = false;
    }
  });
}
`;
