/**
 * Property-based fuzzing of every route the OpenAPI document lists under /v1/auth and /auth:
 * random JSON values and types, Unicode, tricky strings, duplicate and `__proto__` keys (the body is
 * written as raw JSON text), malformed text, random headers, content types, methods, tokens and
 * path parameters. Invariants, for every case:
 * - no 5xx;
 * - every 4xx has the API.md §5 shape (with a Bearer challenge on 401, Retry-After on 429);
 * - a rejected request changes nothing in D1 (users, sessions, one-time tokens, outbox), the
 *   per-account and per-email counters excepted: counting failed attempts is their job;
 * - no value sent appears in an error answer.
 * The seed is in the suite's name; `FC_SEED=<seed> npx vitest run test/adversarial/fuzz.test.ts`
 * replays a run. Bodies lean towards being rejected before a password is hashed, so PBKDF2 does
 * not dominate the time.
 */
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  call, errorShapeProblem, freshIp, fuzzSeed, guest, login, mailedToken, settledSnapshot, stateSnapshot, uniqueEmail,
} from "../helpers";
import type { Account, ApiRoute, Json } from "../helpers";
import { apiRoutes } from "../helpers";

const seed = fuzzSeed();
const RUNS_PER_ROUTE = 40;
const MINIMUM_CASES = 1000;

// --- What a case is made of -------------------------------------------------------------------

const BODY_LIMIT = 16_384;

interface FuzzCase {
  /** The raw body text, or null for none. Raw, so keys can repeat and `__proto__` stays a key. */
  body: string | null;
  contentType: string | null;
  headers: Record<string, string>;
  /** Another method than the route's, sometimes. */
  method: string | null;
  token: "none" | "guest" | "user" | "garbage";
  params: Record<string, string>;
}

const TRICKY = [
  "", " ", "\u0000", "\uFEFF", "\uD800", "' OR '1'='1' --", "\"; DROP TABLE users; --", "1; SELECT * FROM users",
  "../../../../etc/passwd", "%00", "a\r\nBcc: victim@example.com", "<script>alert(1)</script>", "${7*7}", "{{7*7}}",
  "__proto__", "constructor", "null", "NaN", "1e309", "ａｄｍｉｎ@ｅｘａｍｐｌｅ.com", "a@b", "@", "x@x.x", "javascript:alert(1)",
  "//evil.example", "https://app.example.com.evil.example", "https://user@app.example.com", "A".repeat(300),
];

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.emailAddress() },
  { weight: 1, arbitrary: fc.uuid() },
  // Long enough to pass the password policy, so some cases reach the hashing.
  { weight: 1, arbitrary: fc.string({ minLength: 8, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(true, false, 0, -1, 1e308, null, [], {}) },
);

function fieldName(route: ApiRoute) {
  const known = [...route.fields, ...route.fields.map(snake)];
  const odd = fc.constantFrom("__proto__", "constructor", "prototype", "isGuest", "role", "id", "userId", "emailVerified");
  return known.length
    ? fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: odd }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) })
    : fc.oneof(odd, fc.string({ maxLength: 10 }));
}

/** A plausible value for a field, by its name, so that some cases get past validation. */
function plausible(field: string): fc.Arbitrary<unknown> {
  // A prefix no fixed message uses: "name@example.com", the example in the email field's message,
  // would otherwise count as an echo of the input.
  if (/email/i.test(field)) return fc.stringMatching(/^[a-z]{3,10}$/).map((s) => `fuzz-${s}@example.com`);
  if (/password/i.test(field)) return fc.oneof(fc.constant("violet-harbor-lantern-42"), fc.string({ minLength: 8, maxLength: 20 }));
  if (field === "username") return fc.stringMatching(/^[a-z][a-z0-9_]{3,12}$/);
  if (field === "refreshToken") return fc.stringMatching(/^[A-Za-z0-9_-]{86}$/);
  if (field === "accessToken") return fc.constant("eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
  if (field === "token") return fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
  if (field === "baseUrl") return fc.constantFrom("https://app.example.com", "http://localhost:5173/reset");
  if (field === "logoUrl" || field === "profilePicture") return fc.constant("https://cdn.example.com/logo.png");
  if (field === "clientAlias") return fc.constant("VERIFIER");
  if (field === "sessionIds") return fc.array(fc.uuid(), { maxLength: 2 });
  if (field === "revokeOtherSessions") return fc.boolean();
  return fc.string({ maxLength: 20 });
}

const objectText = (entries: [string, unknown][]) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;

function bodyArbitrary(route: ApiRoute): fc.Arbitrary<string | null> {
  const name = fieldName(route);
  // Repeated names are kept: duplicate keys come for free.
  const object = fc.array(fc.tuple(name, fieldValue), { maxLength: 8 }).map(objectText);
  const plausibleFields = Object.fromEntries(route.fields.map((f) => [f, plausible(f)]));
  // Every known field plausible, then one of them (or a stray one) replaced by a random value.
  const nearlyValid = fc
    .tuple(
      // All fields, or any subset of them (login takes an email or a username, not both).
      fc.oneof(fc.record(plausibleFields), fc.record(plausibleFields, { requiredKeys: [] })),
      fc.option(fc.tuple(name, fieldValue)),
    )
    .map(([fields, change]) => objectText([...Object.entries(fields), ...(change ? [change] : [])]));
  const polluting = fc
    .tuple(object, fc.constantFrom('"__proto__":{"polluted":true,"isAdmin":true}', '"constructor":{"prototype":{"polluted":true}}', '"__proto__":[1]'))
    .map(([text, extra]) => (text === "{}" ? `{${extra}}` : `{${extra},${text.slice(1)}`));
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 8000 }), fc.constantFrom("[", '{"a":'))
    .map(([depth, open]) => open.repeat(depth) + "1" + (open === "[" ? "]" : "}").repeat(depth));
  const huge = fc
    .tuple(name, fc.integer({ min: BODY_LIMIT + 1, max: 60_000 }), fc.constantFrom("x", "é", "😀"))
    .map(([key, bytes, ch]) => objectText([[key, ch.repeat(Math.ceil(bytes / new TextEncoder().encode(ch).length))]]));
  const malformed = fc.oneof(
    fc.string({ maxLength: 60 }),
    object.map((text) => text.slice(0, -1)),
    fc.constantFrom("{", "[", '{"a":}', "nul", "{'a':1}", "\uFEFF{}", '{"a":1}garbage', "NaN", '{"a":01}'),
  );
  return fc.oneof(
    { weight: 6, arbitrary: object },
    { weight: 6, arbitrary: nearlyValid },
    { weight: 2, arbitrary: polluting },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: huge },
    { weight: 2, arbitrary: malformed },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom<string | null>(null, "") },
  );
}

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant<string | null>("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | null>(
      "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json", "text/plain", "text/json",
      "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x", "application/xml",
      "*/*", "application/json; charset=utf-16", "application/json, text/plain", null,
    ),
  },
  { weight: 1, arbitrary: printable },
);

const headers = fc.dictionary(
  fc.constantFrom(
    "x-forwarded-for", "x-real-ip", "origin", "accept", "accept-language", "user-agent", "cookie", "referer",
    "x-http-method-override", "content-encoding", "if-none-match", "x-request-id",
  ),
  printable,
  { maxKeys: 3 },
);

const pathParam = fc.oneof(
  fc.uuid(),
  fc.string({ unit: "grapheme", maxLength: 40 }).map(encodeURIComponent),
  fc.emailAddress().map(encodeURIComponent),
  fc.constantFrom(
    "%00", "abc%00def", "..%2f..%2fetc%2fpasswd", "%2e%2e", "..", "'%20OR%20'1'%3D'1", "a".repeat(5000), "%E0%A4%A", "%",
    "%0d%0aSet-Cookie:%20x=1", "00000000-0000-0000-0000-000000000000", "__proto__",
  ),
);

function fuzzCase(route: ApiRoute): fc.Arbitrary<FuzzCase> {
  return fc.record({
    body: bodyArbitrary(route),
    contentType,
    headers,
    method: fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") },
    ),
    token: route.bearer ? fc.constantFrom<FuzzCase["token"]>("none", "guest", "user", "garbage") : fc.constant<FuzzCase["token"]>("none"),
    params: fc.record(Object.fromEntries(route.params.map((name) => [name, pathParam]))),
  });
}

// --- Running a case -----------------------------------------------------------------------------

// Top-level await: the routes must be known when the tests are declared, one test per route.
const routes: ApiRoute[] = (await apiRoutes()).filter((r) => /^\/(v1\/)?auth\//.test(r.path));

const tally = { cases: 0, rateLimited: 0, byStatus: new Map<number, number>(), byRoute: new Map<string, Record<number, number>>() };
let user: { account: Account; accessToken: string };

beforeAll(async () => {
  // A password no generator produces, so a fuzzed change-password can never succeed and lock us out.
  const account = { email: uniqueEmail("fuzz"), password: `fuzz-${crypto.randomUUID()}`, username: "", userId: "" };
  const registered = await call("/v1/auth/register", { body: { email: account.email, password: account.password } });
  expect(registered.status).toBe(201);
  const verified = await call("/v1/auth/verify-email", { body: { token: await mailedToken(account.email, "/verify-email") } });
  expect(verified.status).toBe(200);
  user = { account, accessToken: (await login(account)).accessToken };
});

async function tokenFor(kind: FuzzCase["token"]): Promise<string | null> {
  switch (kind) {
    case "none":
      return null;
    case "guest":
      return (await guest()).accessToken;
    case "user":
      return user.accessToken;
    case "garbage":
      return "eyJhbGciOiJub25lIn0.e30.";
  }
}

function requestFor(route: ApiRoute, input: FuzzCase, token: string | null): Request {
  const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => input.params[name] ?? "x");
  const headers = new Headers();
  for (const [name, value] of Object.entries(input.headers)) headers.set(name, value);
  headers.set("cf-connecting-ip", freshIp());
  if (input.contentType !== null) headers.set("content-type", input.contentType);
  if (token) headers.set("authorization", `Bearer ${token}`);
  const method = input.method ?? route.method;
  const body = method === "GET" || method === "HEAD" || input.body === null ? undefined : input.body;
  return new Request(`http://auth.test${path}`, { method, headers, body });
}

/** Strings sent in the case that must never come back in an error answer. */
function sentSecrets(input: FuzzCase, token: string | null): string[] {
  // String values (not keys: an error may name a field) of 16 characters or more.
  const values = [...(input.body?.matchAll(/("(?:[^"\\]|\\.){16,}")(?!\s*:)/g) ?? [])].map((m) => JSON.parse(m[1]!) as string);
  if (token) values.push(token);
  return values.filter((v) => v.trim().length >= 16);
}

/**
 * Whether the body limit applies: an API path (after the URL parser folded "%2e%2e"), and a body
 * read. The limit runs in each route's middleware, so a request no route matches is a 404 instead.
 */
function oversized(input: FuzzCase, request: Request): boolean {
  const underApi = /^\/(v1\/)?auth\//.test(new URL(request.url).pathname);
  // A CORS preflight (OPTIONS) is answered without reading the body, and GET sends none.
  return (
    underApi && input.body !== null && request.method !== "GET" && request.method !== "OPTIONS" &&
    new TextEncoder().encode(input.body).length > BODY_LIMIT &&
    !/^multipart\/form-data/i.test(input.contentType ?? "")
  );
}

async function runCase(route: ApiRoute, input: FuzzCase): Promise<void> {
  const token = await tokenFor(input.token);
  const before = await stateSnapshot();
  const request = requestFor(route, input, token);
  const overLimit = oversized(input, request);
  const response = await exports.default.fetch(request);
  const text = await response.text();
  tally.cases++;
  tally.byStatus.set(response.status, (tally.byStatus.get(response.status) ?? 0) + 1);
  if (response.status === 429) tally.rateLimited++;
  const perRoute = tally.byRoute.get(`${route.method} ${route.path}`) ?? {};
  perRoute[response.status] = (perRoute[response.status] ?? 0) + 1;
  tally.byRoute.set(`${route.method} ${route.path}`, perRoute);

  expect(response.status, `${route.method} ${route.path}: ${text.slice(0, 200)}`).toBeLessThan(500);
  if (overLimit && !(response.status === 404 && text.includes('"No such route"'))) {
    expect(response.status, "a body over the limit").toBe(413);
  }
  // No answer, success or not, ever carries a stored password hash.
  expect(text).not.toContain("pbkdf2-sha256$");
  if (response.status < 400) {
    if (input.token === "user") user.accessToken = (await login(user.account)).accessToken;
    await settledSnapshot();
    return;
  }
  expect(errorShapeProblem(response, text)).toBeNull();
  for (const secret of sentSecrets(input, token)) expect(text).not.toContain(secret);
  expect(await stateSnapshot(), "a rejected request changed D1").toEqual(before);
}

describe(`fuzz every route (seed ${seed}; replay with FC_SEED=${seed})`, () => {
  it("covers the canonical and compatibility routes", () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    for (const expected of [
      "POST /v1/auth/register", "POST /v1/auth/login", "POST /v1/auth/forgot-password", "POST /v1/auth/reset-password",
      "POST /v1/auth/change-password", "DELETE /v1/auth/sessions/{sessionId}", "POST /auth/signin",
      "POST /auth/password-reset/{email}", "POST /auth/refresh",
    ]) {
      expect(names).toContain(expected);
    }
  });

  routes.forEach((route, index) => {
    it(`${route.method} ${route.path}`, async () => {
      await fc.assert(
        fc.asyncProperty(fuzzCase(route), (input) => runCase(route, input)),
        // One seed per route, derived from the run's, so routes do not all get the same shapes.
        { seed: (seed + index) | 0, numRuns: RUNS_PER_ROUTE },
      );
    });
  });

  it(`ran at least ${MINIMUM_CASES} cases, with the limiter answering few of them`, () => {
    const statuses = Object.fromEntries([...tally.byStatus].sort(([a], [b]) => a - b));
    console.log(`fuzz seed ${seed}: ${tally.cases} cases, statuses ${JSON.stringify(statuses)}`);
    for (const [route, counts] of tally.byRoute) console.log(`  ${route}: ${JSON.stringify(counts)}`);
    expect(tally.cases).toBeGreaterThanOrEqual(MINIMUM_CASES);
    expect(tally.rateLimited / tally.cases, JSON.stringify(statuses)).toBeLessThan(0.05);
  });
});

afterAll(() => {
  // Nothing in the worker's isolate may have been polluted by `__proto__` or `constructor` keys.
  const probe: Json = {};
  expect(probe.polluted).toBeUndefined();
  expect(probe.isAdmin).toBeUndefined();
  expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
});
