/**
 * Shared test helpers: every call goes over HTTP to the Worker (`exports.default.fetch`) inside
 * workerd, with real D1, Durable Objects and R2. Each request gets a fresh client address unless a
 * test names one, so the real rate limiter never couples tests.
 */
import { env, exports } from "cloudflare:workers";
import * as jose from "jose";
import { expect, inject, vi } from "vitest";

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
  const headers = new Headers(options.headers);
  if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", options.ip ?? freshIp());
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const method = options.method ?? (body !== undefined ? "POST" : "GET");
  return exports.default.fetch(new Request(`${BASE}${path}`, { method, headers, body }));
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

export interface Mail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  createdAt: string;
}

/** Reads the dev outbox, waiting up to `timeoutMs` for at least `count` messages (mail is sent after the answer). */
export async function mailbox(to: string, count = 1, timeoutMs = 5000): Promise<Mail[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await call(`/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await json(response)) as { messages: Mail[] };
    if (messages.length >= count || Date.now() > deadline) return messages;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The token of the newest mailed link to `path` (e.g. "/verify-email"). */
export async function mailedToken(to: string, path: string, count = 1): Promise<string> {
  const messages = await mailbox(to, count);
  const message = messages.find((m) => m.text.includes(path));
  const link = message?.text.match(/https?:\/\/\S+/g)?.find((l) => l.includes(path));
  if (!link) throw new Error(`no ${path} link mailed to ${to}`);
  return new URL(link).searchParams.get("token")!;
}

export interface Account {
  email: string;
  username: string;
  password: string;
  userId: string;
}

/** Registers and verifies an account through the API and the outbox. */
export async function verifiedAccount(label = "user"): Promise<Account> {
  const email = uniqueEmail(label);
  const username = uniqueUsername(label);
  const registered = await call("/v1/auth/register", { body: { email, username, password: PASSWORD } });
  expect(registered.status).toBe(201);
  const { user } = await json(registered);
  const token = await mailedToken(email, "/verify-email");
  const verified = await call("/v1/auth/verify-email", { body: { token } });
  expect(verified.status).toBe(200);
  return { email, username, password: PASSWORD, userId: user.id };
}

export async function login(account: Pick<Account, "email" | "password">, ip?: string): Promise<Json> {
  const response = await call("/v1/auth/login", { body: { email: account.email, password: account.password }, ...(ip ? { ip } : {}) });
  expect(response.status).toBe(200);
  return json(response);
}

export async function guest(ip?: string): Promise<Json> {
  const response = await call("/v1/auth/guest", { method: "POST", ...(ip ? { ip } : {}) });
  expect(response.status).toBe(200);
  return json(response);
}

export { env };

/** The payload of a JWT, unverified (tests read what the service issued). */
export function claims(token: string): Json {
  const part = token.split(".")[1]!;
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

/** Runs `fn` against the storage of a user's real UserSessions object (test setup: ageing state). */
export async function inUserSessions<T>(userId: string, fn: (sql: SqlStorage) => T): Promise<T> {
  const { runInDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
  return runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => fn(state.storage.sql));
}

export async function refreshWith(refreshToken: string, ip?: string): Promise<Response> {
  return call("/v1/auth/refresh", { body: { refreshToken }, ...(ip ? { ip } : {}) });
}

// --- Forging access tokens (adversarial tests) -------------------------------------------------
// Tokens are built by hand so that every header field and claim can be left out, doubled or made
// wrong one at a time; the service's real signing key (a test binding) signs the "valid" ones.

export interface TokenSubject {
  userId: string;
  sessionId: string;
  role?: "guest" | "user";
}

const jsonPart = (value: unknown) =>
  typeof value === "string" ? value : jose.base64url.encode(new TextEncoder().encode(JSON.stringify(value)));

/** The service's own signing key, imported from the test binding (a private JWK as JSON). */
export async function serviceSigningKey(): Promise<{ key: CryptoKey; jwk: jose.JWK; kid: string }> {
  const jwk = JSON.parse((env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY) as jose.JWK & { kid: string };
  const key = (await jose.importJWK({ ...jwk, alg: "ES256" }, "ES256")) as CryptoKey;
  return { key, jwk, kid: jwk.kid };
}

/** The claims the service issues for `subject`, valid for an hour from now. */
export function accessClaims(subject: TokenSubject): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: env.JWT_ISSUER,
    aud: env.JWT_AUDIENCE,
    sub: subject.userId,
    sid: subject.sessionId,
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 3600,
    role: subject.role ?? "guest",
  };
}

/**
 * Signs `header`.`payload` as a compact JWS: ES256 with a CryptoKey (the service's by default),
 * HS256 with raw bytes as the HMAC secret, or no signature at all with `key: "none"`.
 * Strings in place of header or payload are used as the encoded part verbatim.
 */
export async function signToken(
  header: Record<string, unknown> | string,
  payload: Record<string, unknown> | string,
  key?: CryptoKey | Uint8Array | "none",
): Promise<string> {
  const input = `${jsonPart(header)}.${jsonPart(payload)}`;
  const data = new TextEncoder().encode(input);
  const signer = key ?? (await serviceSigningKey()).key;
  if (signer === "none") return `${input}.`;
  let signature: ArrayBuffer;
  if (signer instanceof Uint8Array) {
    const hmac = await crypto.subtle.importKey("raw", signer, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    signature = await crypto.subtle.sign("HMAC", hmac, data);
  } else {
    signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signer, data);
  }
  return `${input}.${jose.base64url.encode(new Uint8Array(signature))}`;
}

/** A token exactly like the service's own for `subject`, signed with the service's key. */
export async function forgeAccessToken(subject: TokenSubject): Promise<string> {
  const { kid } = await serviceSigningKey();
  return signToken({ alg: "ES256", kid, typ: "JWT" }, accessClaims(subject));
}

/**
 * The same access token (user, session, role) re-signed with the service's key as if issued two
 * hours ago, so it expired an hour ago: what a client holds when its access token has run out.
 */
export async function expiredAccessToken(accessToken: string): Promise<string> {
  const { kid } = await serviceSigningKey();
  const now = Math.floor(Date.now() / 1000);
  return signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims(accessToken), jti: crypto.randomUUID(), iat: now - 7200, exp: now - 3600 });
}

/** Sends `count` identical calls from one address, one after another; returns their statuses. */
export async function statuses(count: number, path: string, options: CallOptions): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push((await call(path, options)).status);
  return result;
}

/** The real RateLimiter object that limits `ip` (keyed as the service keys it: IPv6 by /64). */
export async function rateLimiterOf(ip: string) {
  const { clientKey } = await import("../src/rate-limits");
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(clientKey(ip)));
}

/** Runs `fn` against the storage of the real RateLimiter object that limits `ip`. */
export async function inRateLimiter<T>(ip: string, fn: (state: DurableObjectState) => T | Promise<T>): Promise<T> {
  const { runInDurableObject } = await import("cloudflare:test");
  return runInDurableObject(await rateLimiterOf(ip), (_instance: unknown, state: DurableObjectState) => fn(state));
}

/**
 * Fault injection with the real object: drops the limiter's table for `ip`, so its next call
 * throws (as a broken or unreachable limiter would) until the object is rebuilt.
 */
export async function breakRateLimiter(ip: string): Promise<void> {
  await inRateLimiter(ip, (state) => state.storage.sql.exec("DROP TABLE hits"));
}

/** Asserts the RateLimit-* headers of a limited answer. */
export function expectRateHeaders(response: Response, limit: number, remaining?: number): void {
  expect(response.headers.get("RateLimit-Limit")).toBe(String(limit));
  const left = Number(response.headers.get("RateLimit-Remaining"));
  if (remaining !== undefined) expect(left).toBe(remaining);
  else expect(left >= 0 && left <= limit).toBe(true);
  expect(Number(response.headers.get("RateLimit-Reset"))).toBeGreaterThanOrEqual(1);
}

/** One operation of the service's OpenAPI document, as adversarial tests attack it. */
export interface ApiRoute {
  method: string;
  /** With `{name}` placeholders for path parameters. */
  path: string;
  bearer: boolean;
  /** Top-level JSON body fields (camelCase), when the operation takes a JSON body. */
  fields: string[];
  params: string[];
}

/** Every operation /openapi.json describes, so that routes added later are attacked too. */
export async function apiRoutes(): Promise<ApiRoute[]> {
  const document = await json(await call("/openapi.json"));
  const resolve = (schema: Json): Json =>
    schema?.$ref ? resolve(document.components.schemas[String(schema.$ref).split("/").pop()!]) : schema;
  const fieldsOf = (schema: Json): string[] => {
    const s = resolve(schema);
    if (!s) return [];
    const nested = [...(s.allOf ?? []), ...(s.anyOf ?? []), ...(s.oneOf ?? [])].flatMap(fieldsOf);
    return [...new Set([...Object.keys(s.properties ?? {}), ...nested])];
  };
  const routes: ApiRoute[] = [];
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(operations)) {
      routes.push({
        method: method.toUpperCase(),
        path,
        bearer: Boolean(operation?.security?.some((s: Json) => "bearerAuth" in s)),
        fields: fieldsOf(operation?.requestBody?.content?.["application/json"]?.schema),
        params: (operation?.parameters ?? []).filter((p: Json) => p.in === "path").map((p: Json) => p.name as string),
      });
    }
  }
  return routes;
}

const ERROR_CODES: Record<number, string[]> = {
  400: ["invalid_request"],
  401: ["invalid_credentials", "email_not_verified", "invalid_token"],
  403: ["forbidden"],
  404: ["not_found"],
  409: ["conflict"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
  429: ["rate_limited"],
};

/**
 * What is wrong with an error answer's shape (API.md §5), or null: JSON `{ statusCode, error,
 * message, details? }` with the code that belongs to the status, a Bearer challenge on 401 and
 * Retry-After on 429.
 */
export function errorShapeProblem(response: Response, text: string): string | null {
  const status = response.status;
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    return `${status} is not JSON: ${text.slice(0, 80)}`;
  }
  if (!/^application\/json/.test(response.headers.get("content-type") ?? "")) return `${status} has content-type ${response.headers.get("content-type")}`;
  if (body?.statusCode !== status) return `statusCode ${body?.statusCode} on a ${status}`;
  if (!(ERROR_CODES[status] ?? []).includes(body.error)) return `error "${body.error}" on a ${status}`;
  if (typeof body.message !== "string" || body.message === "") return "no message";
  const allowed = new Set(["statusCode", "error", "message", "details"]);
  if (Object.keys(body).some((k) => !allowed.has(k))) return `extra keys ${Object.keys(body)}`;
  if (body.details !== undefined) {
    if (!Array.isArray(body.details) || body.details.some((d: Json) => typeof d?.field !== "string" || typeof d?.message !== "string")) {
      return "malformed details";
    }
  }
  if (status === 401 && !/^Bearer\b/.test(response.headers.get("www-authenticate") ?? "")) return "401 without a Bearer challenge";
  if (status === 429 && !/^\d+$/.test(response.headers.get("retry-after") ?? "")) return "429 without Retry-After";
  return null;
}

/** Counts of what a request could change in D1: a rejected request must leave all of them alone. */
export async function stateSnapshot(): Promise<Record<string, unknown>> {
  const row = await env.DB.prepare(
    `SELECT (SELECT count(*) FROM users) AS users,
            (SELECT count(*) FROM users WHERE is_guest = 0) AS fullUsers,
            (SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL) AS verified,
            (SELECT max(updated_at) FROM users) AS lastUserUpdate,
            (SELECT count(*) FROM sessions) AS sessions,
            (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL) AS revoked,
            (SELECT max(last_used_at) FROM sessions) AS lastSessionUse,
            (SELECT count(*) FROM one_time_tokens) AS oneTimeTokens,
            (SELECT count(*) FROM one_time_tokens WHERE used_at IS NOT NULL) AS usedTokens,
            (SELECT count(*) FROM mail_outbox) AS mails`,
  ).first();
  return row ?? {};
}

/** Waits until work after an answer (mail, `waitUntil`) has landed: two equal snapshots in a row. */
export async function settledSnapshot(timeoutMs = 2000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = await stateSnapshot();
  for (;;) {
    await new Promise((r) => setTimeout(r, 40));
    const next = await stateSnapshot();
    if (JSON.stringify(next) === JSON.stringify(last) || Date.now() > deadline) return next;
    last = next;
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** From the FC_SEED environment variable (vitest.config.ts); "" when unset. */
    FC_SEED: string;
  }
}

/** The fast-check seed of this run: FC_SEED when given (to replay a failure), else a random one. */
export function fuzzSeed(): number {
  const given = Number.parseInt(inject("FC_SEED"), 10);
  return Number.isInteger(given) ? given : crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1;
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

/** Asserts a §5 429: the body, Retry-After, and RateLimit-* headers with nothing remaining. */
export async function expectRateLimited(response: Response, limit: number): Promise<void> {
  const body = await expectError(response, 429, "rate_limited");
  expect(Object.keys(body).sort()).toEqual(["error", "message", "statusCode"]);
  expect(Number(response.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
  expectRateHeaders(response, limit, 0);
}

/** A route of a rate-limit bucket, and a request to send it (its answer may be any error but 429). */
export interface Door {
  path: string;
  options: CallOptions;
}

/**
 * From one fresh address, spends a bucket's `limit` round-robin over `doors`, then expects every door
 * to answer 429: a door with a bucket of its own would still have room, so this shows they share one.
 */
export async function expectSharedBucket(doors: Door[], limit: number): Promise<string> {
  const ip = freshIp();
  for (let i = 0; i < limit; i++) {
    const door = doors[i % doors.length]!;
    const response = await call(door.path, { ...door.options, ip });
    expect(response.status, `${door.path} #${i + 1}`).not.toBe(429);
    expectRateHeaders(response, limit, limit - i - 1);
  }
  for (const door of doors) await expectRateLimited(await call(door.path, { ...door.options, ip }), limit);
  return ip;
}
