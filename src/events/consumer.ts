/**
 * The queue consumer (API.md §16): each message is one delivery of one event to one endpoint. An
 * attempt POSTs the event's body signed per Standard Webhooks (./signature.ts) with the endpoint's
 * secret; a 2xx answer within 10 seconds delivers it. Otherwise the message is retried after the
 * next of WEBHOOK_RETRY_DELAYS_SECONDS (`message.retry({ delaySeconds })`, so the wait costs no
 * Worker time and survives restarts: the queue keeps the message), and after the last the delivery
 * is recorded as failed. Every attempt carries the same `webhook-id` (the event's id) and its own
 * `webhook-timestamp`. Each attempt's outcome is written to `event_deliveries` (one upsert).
 *
 * A delivery already recorded as delivered is not sent again (a second copy from the sweep or a
 * redelivery). A message the consumer cannot handle (D1 unreachable) is retried by the queue; past
 * `max_retries` it goes to the dead-letter queue, whose consumer records the delivery as failed.
 *
 * @example
 * export default { queue: (batch, env) => consume(batch, env) };
 */
import { and, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import type { Config } from "../config";
import { log } from "../http/log";
import type { DeliveryMessage } from ".";
import { eventDeliveries, events } from "./schema";
import type { EventRow } from "./schema";
import { signedHeaders } from "./signature";

/** How long an endpoint has to answer (API.md §16). */
export const DELIVERY_TIMEOUT_MS = 10_000;

/** The body of every attempt (API.md §16): `{ id, type, sequence, timestamp, data }`. */
export function eventBody(row: EventRow) {
  return { id: row.id, type: row.type, sequence: row.sequence, timestamp: new Date(row.createdAt).toISOString(), data: JSON.parse(row.data) as unknown };
}

type Outcome = { status: "pending" | "delivered" | "failed"; error: string | null };

/**
 * Records an attempt's outcome: the row is created at the first attempt, `attempts` grows by one,
 * and a delivered row is never changed again. Nothing is written for an event purged meanwhile.
 */
function recordAttempt(db: DrizzleD1Database, eventId: string, endpoint: string, outcome: Outcome, now: number, countAttempt = true) {
  const add = countAttempt ? 1 : 0;
  return db.run(sql`INSERT INTO ${eventDeliveries} (event_id, endpoint, status, attempts, last_error, updated_at)
    SELECT ${eventId}, ${endpoint}, ${outcome.status}, ${add}, ${outcome.error}, ${now} WHERE EXISTS (SELECT 1 FROM ${events} WHERE ${events.id} = ${eventId})
    ON CONFLICT (event_id, endpoint) DO UPDATE SET status = excluded.status, attempts = ${eventDeliveries.attempts} + ${add},
      last_error = excluded.last_error, updated_at = excluded.updated_at
    WHERE ${eventDeliveries.status} <> 'delivered'`);
}

/** One POST; null when the endpoint answered 2xx in time, else why not (never the answer's body). */
async function attempt(url: string, headers: Record<string, string>, body: string): Promise<string | null> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": "edge-auth-webhooks" },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`;
  } catch (error) {
    return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError") ? "timeout" : "network error";
  }
}

/** One message of the events queue: see the module comment. */
async function deliver(env: Env, config: Config, message: Message<DeliveryMessage>): Promise<void> {
  const { eventId, endpoint: name } = message.body;
  const db = drizzle(env.DB);
  const [found, state] = await db.batch([
    db.select().from(events).where(eq(events.id, eventId)),
    db.select({ status: eventDeliveries.status }).from(eventDeliveries).where(and(eq(eventDeliveries.eventId, eventId), eq(eventDeliveries.endpoint, name))),
  ]);
  const row = found[0];
  const endpoint = config.webhooks.find((e) => e.name === name);
  if (!row || !endpoint || state[0]?.status === "delivered") {
    if (row && !endpoint) log("warn", "events.endpoint_gone", { eventId, endpoint: name });
    message.ack();
    return;
  }
  const body = JSON.stringify(eventBody(row));
  const now = Date.now();
  const error = await attempt(endpoint.url, await signedHeaders(endpoint.secret, row.id, Math.floor(now / 1000), body), body);
  const delays = config.webhookRetryDelaysSeconds;
  const retryAfter = error === null ? undefined : delays[message.attempts - 1];
  const status = error === null ? "delivered" : retryAfter === undefined ? "failed" : "pending";
  await recordAttempt(db, eventId, name, { status, error }, Date.now());
  if (retryAfter !== undefined) message.retry({ delaySeconds: retryAfter });
  else message.ack();
  if (status === "failed") log("warn", "events.delivery_failed", { eventId, endpoint: name, attempts: message.attempts, reason: error });
}

/** A message the consumer gave up on (dead-letter queue): the delivery is recorded as failed. */
async function deadLettered(env: Env, message: Message<DeliveryMessage>): Promise<void> {
  const { eventId, endpoint } = message.body;
  await recordAttempt(drizzle(env.DB), eventId, endpoint, { status: "failed", error: "dead-lettered" }, Date.now(), false);
  message.ack();
}

/** The Worker's `queue()` handler, for the events queue and its dead-letter queue. */
export async function consume(batch: MessageBatch<DeliveryMessage>, env: Env): Promise<void> {
  const dead = batch.queue.endsWith("-dlq");
  const config = dead ? null : loadConfig(env);
  const outcomes = await Promise.allSettled(batch.messages.map((m) => (config ? deliver(env, config, m) : deadLettered(env, m))));
  outcomes.forEach((outcome, i) => {
    if (outcome.status === "rejected") {
      // Left to the queue: retried, and past max_retries dead-lettered.
      log("error", "events.consume_failed", { eventId: batch.messages[i]!.body.eventId, reason: outcome.reason instanceof Error ? outcome.reason.name : "unknown" });
      batch.messages[i]!.retry();
    }
  });
}
