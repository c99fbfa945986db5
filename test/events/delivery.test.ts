/**
 * Delivery (API.md §16) through the real Cloudflare Queue that Miniflare runs from wrangler.toml,
 * to the loopback receiver of scripts/webhook-receiver.mjs, which checks every attempt with the
 * `standardwebhooks` package: the body and headers, the endpoints' `events` filter, retries with
 * WEBHOOK_RETRY_DELAYS_SECONDS (1,2,1 in tests) and the same `webhook-id`, failure after the last,
 * a consumer that dies mid-delivery, and the sweep for an event whose queue send failed.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src";
import { ConfigError, loadConfig } from "../../src/config";
import { PASSWORD, adminCall, call, captureLogs, env, guest, json, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import { productionEnv } from "../helpers/config";
import { attempts, eventRows, failWith, receiver, received, until } from "./helpers";

/** The feed's view of one event (GET /v1/admin/events, found by id). */
async function feedEvent(eventId: string, type?: string) {
  let after = "";
  for (;;) {
    const page = await json(await adminCall(`/events?limit=100${type ? `&type=${type}` : ""}${after ? `&after=${after}` : ""}`));
    const found = page.events.find((e: { id: string }) => e.id === eventId);
    if (found) return found;
    if (!page.nextCursor) return undefined;
    after = page.nextCursor;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("webhook delivery through the queue", () => {
  it("POSTs the body signed per Standard Webhooks; the receiver's standardwebhooks verifies it", async () => {
    const started = Date.now();
    const pair = await guest();
    const [row] = await eventRows(pair.user.id);
    const [attempt] = await attempts(pair.user.id, (list) => list.length >= 1);
    expect(attempt!.endpoint).toBe("app");
    expect(attempt!.verified).toBe(true);
    expect(attempt!.status).toBe(200);
    expect(attempt!.headers["webhook-id"]).toBe(row!.id);
    expect(attempt!.headers["content-type"]).toBe("application/json");
    expect(attempt!.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const timestamp = Number(attempt!.headers["webhook-timestamp"]);
    expect(timestamp * 1000).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(attempt!.at - started).toBeLessThan(5000); // the first attempt follows the commit within 5 s
    expect(attempt!.body).toEqual({ id: row!.id, type: "user.created", sequence: row!.sequence, timestamp: new Date(row!.createdAt).toISOString(), data: { user: pair.user } });
    await until(() => feedEvent(row!.id), (e) => e?.deliveries.length === 1 && e.deliveries[0].status === "delivered");
    expect((await feedEvent(row!.id)).deliveries).toEqual([{ endpoint: "app", status: "delivered", attempts: 1, lastError: null }]);
  });

  it("each endpoint gets only the types it asked for: `deletions` gets user.deleted, `app` every type", async () => {
    const account = await verifiedAccount("filter");
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    const list = await attempts(account.userId, (l) => l.filter((a) => a.body?.type === "user.deleted").length >= 2 && l.length >= 4);
    const byEndpoint = (name: string) => list.filter((a) => a.endpoint === name).map((a) => a.body.type);
    expect(byEndpoint("deletions")).toEqual(["user.deleted"]);
    expect(byEndpoint("app").sort()).toEqual(["user.created", "user.deleted", "user.updated"]);
    expect(list.every((a) => a.verified)).toBe(true);
    const deleted = list.filter((a) => a.body.type === "user.deleted");
    // One event: the same id and body to both endpoints, each signed with its own secret.
    expect(deleted[0]!.headers["webhook-id"]).toBe(deleted[1]!.headers["webhook-id"]);
    expect(deleted[0]!.body).toEqual(deleted[1]!.body);
    expect(deleted[0]!.headers["webhook-signature"]).not.toBe(deleted[1]!.headers["webhook-signature"]);
  });

  it("retries after the configured delays with the same webhook-id, and records the delivery", async () => {
    const email = uniqueEmail("retry");
    await failWith(email, 503, 2);
    const response = await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(response.status).toBe(201);
    const list = await attempts(email, (l) => l.some((a) => a.status === 200));
    expect(list.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(new Set(list.map((a) => a.headers["webhook-id"])).size).toBe(1);
    expect(list.every((a) => a.verified)).toBe(true);
    // WEBHOOK_RETRY_DELAYS_SECONDS=1,2,1: the second attempt waits at least 1 s, the third 2 s.
    expect(list[1]!.at - list[0]!.at).toBeGreaterThanOrEqual(900);
    expect(list[2]!.at - list[1]!.at).toBeGreaterThanOrEqual(1900);
    // Each attempt's own timestamp.
    expect(Number(list[2]!.headers["webhook-timestamp"])).toBeGreaterThan(Number(list[0]!.headers["webhook-timestamp"]));
    const eventId = list[0]!.headers["webhook-id"]!;
    const event = await until(() => feedEvent(eventId), (e) => e?.deliveries[0]?.status === "delivered");
    expect(event.deliveries).toEqual([{ endpoint: "app", status: "delivered", attempts: 3, lastError: null }]);
  });

  it("after the last retry the delivery is recorded as failed; redelivery starts a fresh round", async () => {
    const email = uniqueEmail("fails");
    await failWith(email, 500, 4);
    const logs = captureLogs();
    try {
      expect((await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } })).status).toBe(201);
      const list = await attempts(email, (l) => l.length >= 4, 20_000);
      const eventId = list[0]!.headers["webhook-id"]!;
      const failed = await until(() => feedEvent(eventId), (e) => e?.deliveries[0]?.status === "failed");
      expect(failed.deliveries).toEqual([{ endpoint: "app", status: "failed", attempts: 4, lastError: "HTTP 500" }]);
      // No fifth attempt on its own.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await received(email)).toHaveLength(4);

      const redelivered = await adminCall(`/events/${eventId}/redeliver`, { method: "POST" });
      expect(redelivered.status).toBe(202);
      expect((await json(redelivered)).event.deliveries).toEqual([{ endpoint: "app", status: "pending", attempts: 4, lastError: "HTTP 500" }]);
      const after = await attempts(email, (l) => l.length >= 5);
      expect(after[4]!.status).toBe(200);
      expect(after[4]!.headers["webhook-id"]).toBe(eventId);
      const delivered = await until(() => feedEvent(eventId), (e) => e?.deliveries[0]?.status === "delivered");
      expect(delivered.deliveries[0]).toEqual({ endpoint: "app", status: "delivered", attempts: 5, lastError: null });
      // A delivered event is not sent again by a redelivery.
      expect((await adminCall(`/events/${eventId}/redeliver`, { method: "POST" })).status).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await received(email)).toHaveLength(5);
    } finally {
      logs.restore();
    }
    // The failure is logged (by the consumer, in this isolate) and the endpoint's secret never is.
    expect(logs.events("events.delivery_failed")).toHaveLength(1);
    const secretBody = receiver.secrets.app.slice("whsec_".length);
    expect(logs.lines.join("\n")).not.toContain(secretBody);
  });

  it("a consumer that dies after the POST leaves the message to the queue: retried, the same webhook-id, then delivered", async () => {
    const email = uniqueEmail("crash");
    const trigger = `crash_${crypto.randomUUID().replaceAll("-", "")}`;
    // Recording the first attempt's outcome fails, so that consumer run throws after its POST.
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON event_deliveries WHEN (SELECT instr(data, '${email}') FROM events WHERE id = NEW.event_id) > 0 BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
    );
    try {
      expect((await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } })).status).toBe(201);
      await attempts(email, (l) => l.length >= 1);
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    const list = await attempts(email, (l) => l.length >= 2);
    expect(list[0]!.headers["webhook-id"]).toBe(list[1]!.headers["webhook-id"]);
    const event = await until(() => feedEvent(list[0]!.headers["webhook-id"]!), (e) => e?.deliveries[0]?.status === "delivered");
    expect(event.deliveries[0].attempts).toBe(1); // the crashed attempt left no record
  });
});

describe("nothing lost: the sweep", () => {
  it("an event whose queue send failed is handed over by the scheduled sweep", async () => {
    const send = vi.spyOn(env.EVENTS, "sendBatch").mockRejectedValueOnce(new Error("queue unavailable"));
    const email = uniqueEmail("sweep");
    const response = await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(response.status).toBe(201);
    const { user } = await json(response);
    await until(async () => send.mock.calls.length, (n) => n >= 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [row] = await eventRows(user.id);
    expect(row!.queuedAt).toBeNull();
    expect(await received(user.id)).toEqual([]);

    // A sweep within the minute leaves it to its request; one after the minute hands it over.
    for (const ahead of [0, 61_000]) {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() + ahead }), env as Env, ctx);
      await waitOnExecutionContext(ctx);
      if (ahead === 0) expect((await eventRows(user.id))[0]!.queuedAt).toBeNull();
    }
    expect((await eventRows(user.id))[0]!.queuedAt).toBeTypeOf("number");
    const [attempt] = await attempts(user.id, (l) => l.length >= 1);
    expect(attempt!.headers["webhook-id"]).toBe(row!.id);
    expect(attempt!.verified).toBe(true);
  });
});

describe("WEBHOOKS settings", () => {
  it("production refuses an http endpoint and a missing or weak secret, naming the setting", async () => {
    const reasons = (overrides: Record<string, unknown>) => {
      try {
        loadConfig(productionEnv(overrides));
        return [];
      } catch (error) {
        if (error instanceof ConfigError) return error.reasons;
        throw error;
      }
    };
    const strong = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    expect(reasons({ WEBHOOKS: JSON.stringify({ app: { url: "https://app.example.com/hooks" } }), WEBHOOK_SECRET_APP: strong })).toEqual([]);
    expect(reasons({ WEBHOOKS: JSON.stringify({ app: { url: "http://app.example.com/hooks" } }), WEBHOOK_SECRET_APP: strong }).join()).toMatch(/WEBHOOKS\.app\.url: must be https/);
    expect(reasons({ WEBHOOKS: JSON.stringify({ app: { url: "https://app.example.com/hooks" } }), WEBHOOK_SECRET_APP: undefined }).join()).toMatch(/WEBHOOK_SECRET_APP/);
    const weak = `whsec_${btoa("too short")}`;
    const weakReasons = reasons({ WEBHOOKS: JSON.stringify({ app: { url: "https://app.example.com/hooks" } }), WEBHOOK_SECRET_APP: weak });
    expect(weakReasons.join()).toMatch(/WEBHOOK_SECRET_APP/);
    expect(weakReasons.join()).not.toContain(weak);
    expect(reasons({ WEBHOOKS: JSON.stringify({ app: { url: "https://a.example.com", events: ["user.nope"] } }), WEBHOOK_SECRET_APP: strong }).join()).toMatch(/WEBHOOKS\.app\.events/);
  });
});

describe("the dead-letter queue", () => {
  it("a message the consumer gave up on is recorded as failed (dead-lettered), never over a delivered one", async () => {
    const { createMessageBatch, getQueueResult } = await import("cloudflare:test");
    const pair = await guest();
    const [row] = await eventRows(pair.user.id);
    await until(() => feedEvent(row!.id), (e) => e?.deliveries[0]?.status === "delivered");
    // A delivered delivery stays delivered.
    const message = (endpoint: string) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 11, body: { eventId: row!.id, endpoint } });
    const first = createMessageBatch("edge-auth-events-dlq", [message("app"), message("gone-endpoint")]);
    const ctx = createExecutionContext();
    await worker.queue(first, env as Env, ctx);
    const result = await getQueueResult(first, ctx);
    expect(result.explicitAcks.length).toBe(2);
    const event = await feedEvent(row!.id);
    expect(event.deliveries).toEqual([
      { endpoint: "app", status: "delivered", attempts: 1, lastError: null },
      { endpoint: "gone-endpoint", status: "failed", attempts: 0, lastError: "dead-lettered" },
    ]);
  });
});
