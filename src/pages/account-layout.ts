/**
 * The frame of the account-lifecycle pages (/delete-account, /confirm-email-change), written with
 * hono/html's `html` tagged template, which escapes every interpolated value unless it is marked
 * `raw` (only the fixed style and script text are). The headers are the other pages' (src/pages/html.ts):
 * a per-response CSP nonce, no referrer, no caching, no framing, no form submission.
 *
 * @example
 * const nonce = newNonce();
 * return c.html(accountPage({ nonce, title: "Hi", body: html`<h1>Hi</h1>`, script: "…" }), 200, pageHeaders(nonce));
 */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111;background:#f6f7f9}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{width:100%;padding:.6rem;border:1px solid #767676;border-radius:4px;font:inherit}
button{margin-top:1.25rem;width:100%;padding:.7rem;border:0;border-radius:4px;background:#1a56db;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.danger{background:#b42318}
button:disabled{opacity:.6;cursor:wait}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
#outcome:empty{display:none}
#outcome{margin:1rem 0 0;padding:.75rem;border-radius:4px;background:#eef2ff}
#outcome[data-kind=success]{background:#e7f6ec;color:#0f5132}
#outcome[data-kind=error]{background:#fdecea;color:#842029}
[hidden]{display:none!important}
`;

/**
 * Reads `token` from the address and removes it from the address bar and history at once;
 * `show()` for outcomes (a live region), `post()` for the API (JSON, no credentials, no cache).
 */
export const ACCOUNT_SCRIPT_PRELUDE = `
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
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
function tokenIssue(data) {
  return (Array.isArray(data.details) ? data.details : []).some((d) => d && d.field === "token");
}
`;

export interface AccountPageInput {
  nonce: string;
  title: string;
  body: HtmlEscapedString | Promise<HtmlEscapedString>;
  /** Fixed script text (never user data), run under the nonce after ACCOUNT_SCRIPT_PRELUDE. */
  script: string;
}

export function accountPage(input: AccountPageInput) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${input.title}</title>
<style nonce="${input.nonce}">${raw(STYLE)}</style>
</head>
<body>
<main>
${input.body}
<noscript><p>This page needs JavaScript to talk to the service. Turn it on and open the link again.</p></noscript>
</main>
<script nonce="${input.nonce}">${raw(ACCOUNT_SCRIPT_PRELUDE + input.script)}</script>
</body>
</html>`;
}
