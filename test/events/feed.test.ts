/**
 * The feed (API.md §16): `GET /v1/admin/events` oldest first with a cursor, a type filter and each
 * endpoint's delivery state; redelivery's errors; retention by the daily clean-up; and
 * `verifyWebhook` of edge-auth/server checking a real delivery the loopback receiver got.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { purgeExpired } from "../../src/maintenance";
import { verifyWebhook, WebhookVerificationError } from "../../sdk/server";
import { adminCall, call, env, expectError, guest, json, verifiedAccount } from "../helpers";
import { attempts, eventRows, receiver, until } from "./helpers";

const DAY = 86_400_000;

async function page(query: string) {
  const response = await adminCall(`/events?${query}`);
  expect(response.status).toBe(200);
  return json(response);
}

describe("GET /v1/admin/events", () => {
  it("needs the admin key", async () => {
    await expectError(await call("/v1/admin/events"), 401, "invalid_token");
  });

  it("oldest first after a cursor, a page at a time, with the type filter", async () => {
    const made = [await guest(), await guest(), await guest()];
    const rows = await Promise.all(made.map(async (p) => (await eventRows(p.user.id))[0]!));
    const first = await page(`after=${rows[0]!.sequence - 1}&limit=2&type=user.created`);
    expect(first.events).toHaveLength(2);
    expect(first.events[0].id).toBe(rows[0]!.id);
    expect(first.events[0]).toMatchObject({ type: "user.created", sequence: rows[0]!.sequence, data: { user: made[0].user } });
    expect(first.events[1].sequence).toBeGreaterThan(first.events[0].sequence);
    expect(first.nextCursor).toBe(String(first.events[1].sequence));
    // Following the cursor reaches the rest, in order, each event once.
    const seen: number[] = first.events.map((e: { sequence: number }) => e.sequence);
    let cursor = first.nextCursor;
    while (cursor) {
      const next = await page(`after=${cursor}&limit=2&type=user.created`);
      seen.push(...next.events.map((e: { sequence: number }) => e.sequence));
      cursor = next.nextCursor;
    }
    expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    for (const row of rows) expect(seen).toContain(row.sequence);
    const all = await page(`after=${rows[0]!.sequence - 1}&limit=100&type=user.deleted`);
    expect(all.events.every((e: { type: string }) => e.type === "user.deleted")).toBe(true);
  });

  it("shows each endpoint's delivery state", async () => {
    const account = await verifiedAccount("feedstate");
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    const [, , deleted] = await eventRows(account.userId);
    expect(deleted!.type).toBe("user.deleted");
    const find = async () => (await page(`after=${deleted!.sequence - 1}&limit=1`)).events[0];
    const event = await until(find, (e) => e.deliveries.every((d: { status: string }) => d.status === "delivered"));
    expect(event.deliveries).toEqual([
      { endpoint: "app", status: "delivered", attempts: 1, lastError: null },
      { endpoint: "deletions", status: "delivered", attempts: 1, lastError: null },
    ]);
    expect(event.data).toEqual({ user: { id: account.userId }, reason: "admin" });
  });

  it("refuses a bad cursor, limit or type (400) and an unknown event's redelivery (404)", async () => {
    await expectError(await adminCall("/events?after=abc"), 400, "invalid_request");
    await expectError(await adminCall("/events?limit=0"), 400, "invalid_request");
    await expectError(await adminCall("/events?type=user.nope"), 400, "invalid_request");
    await expectError(await adminCall(`/events/${crypto.randomUUID()}/redeliver`, { method: "POST" }), 404, "not_found");
    await expectError(await adminCall("/events/not-a-uuid/redeliver", { method: "POST" }), 400, "invalid_request");
  });
});

describe("verifyWebhook (edge-auth/server)", () => {
  it("verifies a real delivery, and refuses a changed body, a stale timestamp and another secret", async () => {
    const pair = await guest();
    const [attempt] = await attempts(pair.user.id, (l) => l.length >= 1);
    const { raw, headers } = attempt!;
    const event = await verifyWebhook(receiver.secrets.app, headers, raw);
    expect(event).toEqual(JSON.parse(raw));
    expect(event.type).toBe("user.created");
    // A Headers object works as well as a plain one.
    expect(await verifyWebhook(receiver.secrets.app, new Headers(headers), raw)).toEqual(event);

    const refuse = (promise: Promise<unknown>) => expect(promise).rejects.toBeInstanceOf(WebhookVerificationError);
    await refuse(verifyWebhook(receiver.secrets.app, headers, raw.replace(pair.user.id, crypto.randomUUID())));
    await refuse(verifyWebhook(receiver.secrets.app, headers, raw, Date.now() + 6 * 60_000));
    await refuse(verifyWebhook(receiver.secrets.app, headers, raw, Date.now() - 6 * 60_000));
    await refuse(verifyWebhook(receiver.secrets.deletions, headers, raw));
    await refuse(verifyWebhook(receiver.secrets.app, { ...headers, "webhook-id": crypto.randomUUID() }, raw));
    const { "webhook-signature": _signature, ...unsigned } = headers;
    await refuse(verifyWebhook(receiver.secrets.app, unsigned, raw));
  });
});

describe("retention", () => {
  it("the daily clean-up keeps events EVENT_RETENTION_DAYS (30), then deletes them with their deliveries", async () => {
    const config = loadConfig(env);
    expect(config.eventRetentionMs).toBe(30 * DAY);
    const pair = await guest();
    const [row] = await eventRows(pair.user.id);
    await until(async () => env.DB.prepare("SELECT COUNT(*) AS n FROM event_deliveries WHERE event_id = ?").bind(row!.id).first<number>("n"), (n) => n === 1);

    await purgeExpired(env as Env, Date.now() + 29 * DAY, config);
    expect(await eventRows(pair.user.id)).toHaveLength(1);

    await purgeExpired(env as Env, Date.now() + 31 * DAY, config);
    expect((await eventRows(pair.user.id)).filter((r) => r.id === row!.id)).toEqual([]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM event_deliveries WHERE event_id = ?").bind(row!.id).first("n")).toBe(0);
  });
});
