/**
 * The event feed under /v1/admin (API.md §16), for operators and for apps catching up: the events
 * oldest first after a cursor, each with its endpoints' delivery state, and redelivery. Gated like
 * every admin route (ADMIN_API_KEY, the `admin` bucket); off (404) when the key is unset.
 *
 * @example
 * app.route("/v1/admin", adminEvents);
 * // GET /v1/admin/events?after=41&limit=100&type=user.deleted
 */
import { createRoute, z } from "@hono/zod-openapi";
import { adminEnabled, requireAdminKey } from "../admin/auth";
import { EVENT_TYPES } from "../events";
import { listEvents, redeliver } from "../events/feed";
import { deps, router } from "../http";
import { limited, noStore } from "../http/middleware";
import { bearer, errorResponses, jsonContent } from "./schemas";

const tags = ["admin"];
const gate = limited("admin", requireAdminKey);

const Delivery = z
  .object({
    endpoint: z.string().openapi({ description: "The endpoint's name in WEBHOOKS" }),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
  })
  .openapi("EventDelivery");

const Event = z
  .object({
    id: z.uuid().openapi({ description: "The webhook-id of every attempt" }),
    type: z.enum(EVENT_TYPES),
    sequence: z.number().int().openapi({ description: "Increases in commit order; the feed's cursor" }),
    timestamp: z.string().openapi({ format: "date-time" }),
    data: z.record(z.string(), z.unknown()).openapi({ description: "{ user } (user.deleted: { user: { id }, reason }; user.merged: { guest: { id }, user })" }),
    deliveries: z.array(Delivery),
  })
  .openapi("Event");

const FeedQuery = z.object({
  after: z.string().max(20).optional().openapi({ param: { name: "after", in: "query" }, description: "The sequence of the last event already seen" }),
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ param: { name: "limit", in: "query" } }),
  type: z.enum(EVENT_TYPES).optional().openapi({ param: { name: "type", in: "query" } }),
});

const EventParams = z.object({ eventId: z.uuid().openapi({ param: { name: "eventId", in: "path" } }) });

const app = router();
app.use("*", adminEnabled, noStore);

export const adminEvents = app
  .openapi(
    createRoute({
      method: "get", path: "/events", tags, security: bearer, middleware: gate, operationId: "adminListEvents",
      summary: "Events oldest first after a cursor, with each webhook endpoint's delivery state",
      request: { query: FeedQuery },
      responses: {
        200: jsonContent(z.object({ events: z.array(Event), nextCursor: z.string().nullable() }), "One page of events"),
        ...errorResponses(400, 401, 404, 429),
      },
    }),
    async (c) => c.json(await listEvents(deps(c), c.req.valid("query")) as { events: z.infer<typeof Event>[]; nextCursor: string | null }, 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/events/{eventId}/redeliver", tags, security: bearer, middleware: gate, operationId: "adminRedeliverEvent",
      summary: "A fresh round of attempts for every endpoint that has not had the event delivered",
      request: { params: EventParams },
      responses: { 202: jsonContent(z.object({ event: Event }), "Queued"), ...errorResponses(400, 401, 404, 429) },
    }),
    async (c) => c.json({ event: (await redeliver(deps(c), c.req.valid("param").eventId)) as z.infer<typeof Event> }, 202),
  );
