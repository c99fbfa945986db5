/**
 * The development outbox (API.md §7): `GET /_dev/mail?to=<address>` as JSON (with
 * `Accept: application/json`) or as a page, newest first (insertion order breaks ties within a
 * millisecond). Mounted only when
 * ENVIRONMENT=development; everywhere else `/_dev/*` is a 404.
 *
 * @example
 * const { messages } = await (await fetch("/_dev/mail?to=a@example.com", { headers: { accept: "application/json" } })).json();
 */
import { desc, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { AppEnv } from "../http";
import { escapeHtml } from "../mail/templates";
import { mailOutbox } from "../db/schema";

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
  const items = messages
    .map(
      (m) => `<article><h2>${escapeHtml(m.subject)}</h2><p>To ${escapeHtml(m.to)} · ${m.createdAt}</p><pre>${escapeHtml(m.text)}</pre></article>`,
    )
    .join("\n");
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dev outbox</title>
<style>body{font-family:system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem}article{border-bottom:1px solid #ddd;padding:1rem 0}pre{white-space:pre-wrap}</style></head>
<body><h1>Development outbox${to ? ` for ${escapeHtml(to)}` : ""}</h1>${items || "<p>No messages.</p>"}</body></html>`,
    200,
    { "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'" },
  );
});
