/**
 * The wardrobe (issue 26's example app): a Hono Worker that keeps each user's clothing items in its
 * own D1 table and lets the edge-auth service say who is calling. `edgeAuth({ binding })` asks the
 * service's `AuthRpc` entrypoint through the `AUTH` service binding, so a signed-out or deleted
 * user's token is refused at once; `c.get("auth").userId` is the owner of the items, and stays the
 * same when a guest upgrades to a full account. The service's webhooks (`POST /webhooks`,
 * src/webhooks.ts) keep the table in step with the accounts: a deleted user's items are erased, a
 * guest's items follow it when it signs into an existing account (API.md §16).
 *
 * @example
 * // Authorization: Bearer <access token from edge-auth/client>
 * // GET /items → { items: [{ id, name, createdAt }] }
 * // POST /items { "name": "Blue coat" } → 201 { item }
 * // DELETE /items/:id → 204 (404 when it is not the caller's)
 * // POST /webhooks (from the service, Standard Webhooks-signed) → 204
 */
import { Hono } from "hono";
import { edgeAuth } from "edge-auth/server";
import type { EdgeAuthEnv } from "edge-auth/server";
import { dev } from "./dev";
import { pruneProcessedEvents } from "./events";
import { addItem, listItems, removeItem } from "./items";
import { problem } from "./problem";
import { webhooks } from "./webhooks";

/**
 * `Env` is what `wrangler types` generated (worker-configuration.d.ts): `AUTH: Service`,
 * `DB: D1Database`, `ENVIRONMENT`, and the secret `WEBHOOK_SECRET_WARDROBE`.
 */
type App = EdgeAuthEnv & { Bindings: Env };

const app = new Hono<App>();

app.get("/health", (c) => c.json({ ok: true }));

// The service's events, signed (not a user's token): src/webhooks.ts.
app.route("/webhooks", webhooks);
app.route("/_dev", dev);

// Every /items route: the caller's session, checked by the auth service itself.
app.use("/items/*", (c, next) => edgeAuth<App>({ binding: c.env.AUTH })(c, next));
app.use("/items", (c, next) => edgeAuth<App>({ binding: c.env.AUTH })(c, next));

app.get("/items", async (c) => c.json({ items: await listItems(c.env.DB, c.get("auth").userId) }));

app.post("/items", async (c) => {
  const body = await c.req.json<{ name?: unknown }>().catch(() => null);
  const name = typeof body?.name === "string" ? body.name.trim() : "";
  if (name.length < 1 || name.length > 100) return problem(c, 400, "invalid_request", "name: 1 to 100 characters");
  return c.json({ item: await addItem(c.env.DB, c.get("auth").userId, name) }, 201);
});

app.delete("/items/:id", async (c) => {
  const removed = await removeItem(c.env.DB, c.get("auth").userId, c.req.param("id"));
  return removed ? c.body(null, 204) : problem(c, 404, "not_found", "No such item");
});

export default {
  fetch: app.fetch,
  // The daily cron (wrangler.toml): forget webhook ids older than the service's 30-day feed.
  scheduled: (_controller, env, ctx) => ctx.waitUntil(pruneProcessedEvents(env.DB)),
} satisfies ExportedHandler<Env>;
