/**
 * Helpers for the event tests (API.md §16): the loopback receiver of scripts/webhook-receiver.mjs
 * (what arrived, rules that make it fail), the `events` rows of a user, and waiting.
 *
 * @example
 * const [attempt] = await attempts(userId, (list) => list.length >= 1);
 */
import { env } from "cloudflare:workers";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    webhooks: { url: string; secrets: { app: string; deletions: string } };
  }
}

export const receiver = inject("webhooks");

/** One attempt as the receiver saw it. */
export interface Attempt {
  endpoint: "app" | "deletions";
  /** The body exactly as it arrived. */
  raw: string;
  headers: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  verified: boolean;
  error: string | null;
  status: number;
  at: number;
}

/** Every attempt whose body contains `match`, oldest first. */
export async function received(match: string): Promise<Attempt[]> {
  const response = await fetch(`${receiver.url}/received?${new URLSearchParams({ match })}`);
  return ((await response.json()) as { received: Attempt[] }).received;
}

/** Makes the receiver answer `status` to the next `times` attempts whose body contains `match` (every one when left out). */
export async function failWith(match: string, status: number, times?: number): Promise<void> {
  await fetch(`${receiver.url}/rules`, { method: "POST", body: JSON.stringify({ match, status, times }) });
}

/** Polls `read` until `done` holds (or throws after `timeoutMs`), returning the last value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Attempts about `match` once `done` holds. */
export const attempts = (match: string, done: (list: Attempt[]) => boolean, timeoutMs?: number) => until(() => received(match), done, timeoutMs);

export interface EventRowView {
  sequence: number;
  id: string;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  createdAt: number;
  queuedAt: number | null;
}

/** The `events` rows whose data mentions `text` (a user id), in sequence order. */
export async function eventRows(text: string): Promise<EventRowView[]> {
  const { results } = await env.DB.prepare("SELECT sequence, id, type, data, created_at, queued_at FROM events WHERE instr(data, ?) > 0 ORDER BY sequence")
    .bind(text)
    .all<{ sequence: number; id: string; type: string; data: string; created_at: number; queued_at: number | null }>();
  return results.map((r) => ({ sequence: r.sequence, id: r.id, type: r.type, data: JSON.parse(r.data), createdAt: r.created_at, queuedAt: r.queued_at }));
}

/** The event types written about `text`, in sequence order. */
export const eventTypes = async (text: string) => (await eventRows(text)).map((e) => e.type);
