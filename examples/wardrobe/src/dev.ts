/**
 * Development-only routes (`ENVIRONMENT=development`, set by scripts/wardrobe-story.mjs; 404
 * otherwise, and `wrangler.toml` says `production`): a look into the app's table that no token can
 * give once a user is deleted, so the story can see the `user.deleted` webhook erase the items.
 * Like the service's `/_dev/mail`, never enabled in production.
 *
 * @example
 * // GET /_dev/items?user=<user id> → 200 { items: [{ id, name, createdAt }] }
 * app.route("/_dev", dev);
 */
import { Hono } from "hono";
import { listItems } from "./items";
import { problem } from "./problem";

export const dev = new Hono<{ Bindings: Env }>();

dev.use(async (c, next) => (c.env.ENVIRONMENT === "development" ? next() : problem(c, 404, "not_found", "Not found")));

dev.get("/items", async (c) => {
  const user = c.req.query("user");
  if (!user) return problem(c, 400, "invalid_request", "user: the user id whose items to list");
  return c.json({ items: await listItems(c.env.DB, user) });
});
