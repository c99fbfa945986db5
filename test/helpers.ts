/**
 * Shared test helpers: every call goes over HTTP to the Worker (`exports.default.fetch`) inside
 * workerd, with real D1, Durable Objects and R2. Each request gets a fresh client address unless a
 * test names one, so the real rate limiter never couples tests.
 */
import { env, exports } from "cloudflare:workers";
import * as jose from "jose";
import { expect } from "vitest";

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
