/**
 * Development-only pages (API.md §7), mounted only when ENVIRONMENT=development (everywhere else
 * they are a 404): the outbox, `GET /_dev/mail?to=<address>`, as JSON (with
 * `Accept: application/json`) or as a page that fits a phone, newest first (insertion order breaks
 * ties within a millisecond), each mail's HTML in a sandboxed frame and its links clickable; and
 * `GET /`, a small index of the development links. Both pages are rendered with `hono/html`, which
 * escapes every value.
 *
 * @example
 * const { messages } = await (await fetch("/_dev/mail?to=a@example.com", { headers: { accept: "application/json" } })).json();
 */
import { desc, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { Context } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { AppEnv } from "../http";
import { mailOutbox } from "../db/schema";

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:760px;margin:1rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin:0}article{border-bottom:1px solid #ddd;padding:1rem 0}
iframe{width:100%;height:24rem;border:1px solid #ccc;border-radius:4px;background:#fff}
ul{padding-left:1.2rem}a{overflow-wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere}.meta{color:#555;font-size:.9rem}`;

/** The dev pages' CSP: their own inline style; a mail's HTML may show its images (a logo). */
const DEV_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function page(c: Context<AppEnv>, title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>) {
  return c.html(
    html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>`,
    200,
    { "Content-Security-Policy": DEV_CSP, "Cache-Control": "no-store" },
  );
}

/** http(s) links in a mail's text, in order, each once. */
const linksIn = (text: string) => [...new Set(text.match(/https?:\/\/[^\s<>"')]+/g) ?? [])];

export const devMail = new Hono<AppEnv>().get("/mail", async (c) => {
  const to = c.req.query("to")?.trim();
  const query = drizzle(c.env.DB).select().from(mailOutbox);
  const rows = await (to ? query.where(sql`lower(${mailOutbox.to}) = ${to.toLowerCase()}`) : query)
    .orderBy(desc(mailOutbox.createdAt), sql`rowid DESC`)
    .limit(50);
  const messages = rows.map((m) => ({
    id: m.id,
    to: m.to,
    subject: m.subject,
    text: m.text,
    html: m.html,
    createdAt: new Date(m.createdAt).toISOString(),
  }));
  if ((c.req.header("accept") ?? "").includes("application/json")) return c.json({ messages });
  const items = messages.map(
    (m) => html`<article>
<h2>${m.subject}</h2>
<p class="meta">To ${m.to} · ${m.createdAt}</p>
${linksIn(m.text).length > 0 ? html`<ul>${linksIn(m.text).map((link) => html`<li><a href="${link}">${link}</a></li>`)}</ul>` : ""}
${m.html ? html`<iframe sandbox="" srcdoc="${m.html}" title="${m.subject}"></iframe>` : html`<pre>${m.text}</pre>`}
</article>`,
  );
  return page(
    c,
    "Dev outbox",
    html`<h1>Development outbox${to ? html` for ${to}` : ""}</h1>
<p class="meta">Mail is written a moment after the answer that sends it: reload to see new mail.</p>
${items.length > 0 ? items : html`<p>No messages.</p>`}`,
  );
});

/** `GET /` in development: where to look first. */
export const devIndex = (c: Context<AppEnv>) =>
  page(
    c,
    `${c.get("config").platformName} (development)`,
    html`<h1>${c.get("config").platformName}: development</h1>
<ul>
<li><a href="/docs">API reference</a> (interactive)</li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/_dev/mail">Development outbox</a>: the mail the service sent</li>
<li><a href="/health">Health</a></li>
</ul>`,
  );
