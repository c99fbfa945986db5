/**
 * Calling the Worker over HTTP (`exports.default.fetch`) inside workerd, with real D1, Durable
 * Objects and R2. Each request gets a fresh client address unless a test names one, so the real
 * rate limiter never couples tests.
 */
import { env, exports } from "cloudflare:workers";
import { expect, vi } from "vitest";

export const BASE = "http://auth.test";

let counter = 0;
/** A fresh IPv4 address per call (10.x.y.z, from a per-file random start). */
const start = Math.floor(Math.random() * 200_000);
export function freshIp(): string {
  const n = start + ++counter;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function uniqueEmail(label = "user"): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

export function uniqueUsername(label = "u"): string {
  return `${label}_${crypto.randomUUID().slice(0, 8)}`;
}

export const PASSWORD = "violet-harbor-lantern-42";

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Sent as is: a string or FormData is not JSON-encoded. */
  rawBody?: BodyInit;
  token?: string;
  ip?: string;
  headers?: Record<string, string>;
}

export async function call(path: string, options: CallOptions = {}): Promise<Response> {
  return exports.default.fetch(callRequest(path, options));
}

/** The request `call` sends (a fresh client address unless one is given). */
export function callRequest(path: string, options: CallOptions = {}): Request {
  const headers = new Headers(options.headers);
  if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", options.ip ?? freshIp());
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const method = options.method ?? (body !== undefined ? "POST" : "GET");
  return new Request(`${BASE}${path}`, { method, headers, body });
}

// Response bodies in tests are read loosely on purpose: the assertions say what must be there.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function json(response: Response): Promise<Json> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON, got ${response.status}: ${text.slice(0, 200)}`);
  }
}

export async function expectError(response: Response, status: number, error: string): Promise<Json> {
  const body = await json(response);
  expect({ status: response.status, error: body.error }).toEqual({ status, error });
  expect(body.statusCode).toBe(status);
  expect(typeof body.message).toBe("string");
  return body;
}

/**
 * Collects every console line (the service logs one JSON object per line) until `restore()`;
 * `events(name)` parses the lines of one event. For asserting what is, and is not, logged.
 */
export function captureLogs() {
  const lines: string[] = [];
  const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  const spies = (["log", "info", "warn", "error", "debug"] as const).map((level) => vi.spyOn(console, level).mockImplementation(capture));
  return {
    lines,
    text: () => lines.join("\n"),
    events: (name: string): Json[] =>
      lines.flatMap((line) => {
        try {
          const parsed = JSON.parse(line) as Json;
          return parsed?.event === name ? [parsed] : [];
        } catch {
          return [];
        }
      }),
    restore: () => spies.forEach((spy) => spy.mockRestore()),
  };
}

export { env };
