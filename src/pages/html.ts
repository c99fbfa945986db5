/**
 * The frame of the service's own pages (/reset-password, /verify-email): one small HTML document
 * with inline style and script that run only under a per-response CSP nonce, and the headers that
 * keep a mailed token private: no referrer, no caching, no framing, no form submission (the
 * script posts JSON itself; without it nothing, and above all no password, can leave in a URL).
 *
 * @example
 * import { newNonce, pageHeaders, renderPage } from "./html";
 * const nonce = newNonce();
 * return c.html(renderPage({ nonce, title: "Hello", body: "<h1>Hi</h1>", script: "…" }), 200, pageHeaders(nonce));
 */
import { randomToken } from "../crypto";
import { escapeHtml } from "../mail/templates";

/** 128 random bits, base64url (CSP nonces allow "-" and "_"). */
export const newNonce = () => randomToken(16);

export function pageHeaders(nonce: string): Record<string, string> {
  return {
    "Content-Security-Policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "require-trusted-types-for 'script'",
    ].join("; "),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
  };
}

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
button:disabled{opacity:.6;cursor:wait}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
#outcome:empty{display:none}
#outcome{margin:1rem 0 0;padding:.75rem;border-radius:4px;background:#eef2ff}
#outcome[data-kind=success]{background:#e7f6ec;color:#0f5132}
#outcome[data-kind=error]{background:#fdecea;color:#842029}
[hidden]{display:none!important}
`;

export interface PageInput {
  nonce: string;
  title: string;
  /** Trusted HTML: callers escape every value in it. */
  body: string;
  /** Trusted script text. */
  script: string;
}

export function renderPage(input: PageInput): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(input.title)}</title>
<style nonce="${input.nonce}">${STYLE}</style>
</head>
<body>
<main>
${input.body}
<noscript><p>This page needs JavaScript to talk to the service. Turn it on and open the link again.</p></noscript>
</main>
<script nonce="${input.nonce}">${input.script}</script>
</body>
</html>`;
}

/**
 * Script shared by both pages: reads `token` and `email` from the address, then removes them from
 * the address bar and history at once, and offers `show()` for outcomes and `post()` for the API.
 */
export const PAGE_SCRIPT_PRELUDE = `
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const email = params.get("email") || "";
if (location.search) history.replaceState(null, "", location.pathname);
const $ = (id) => document.getElementById(id);
const outcome = $("outcome");
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
`;
