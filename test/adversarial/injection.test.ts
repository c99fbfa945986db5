/**
 * Injection (ASVS 1.2.4, 1.3.11): SQL in every field and path parameter, CR/LF and markup in what
 * reaches a mail, path traversal, NUL bytes and overlong path parameters. Every answer is a §5
 * error or the normal answer, never a 5xx; nothing leaks; accounts keep working afterwards.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  PASSWORD, call, errorShapeProblem, json, login, mailbox, mailedToken, stateSnapshot, uniqueEmail, verifiedAccount,
} from "../helpers";
import type { Account, Json } from "../helpers";

const SQL = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "\" OR \"\"=\"",
  "'; DROP TABLE users; --",
  "x' UNION SELECT password_hash, email FROM users --",
  "1) OR (1=1",
  "admin'/*",
  "%' AND 1=0 UNION SELECT token_hash FROM one_time_tokens --",
  "\\'; SELECT sqlite_version(); --",
];

let victim: Account;

beforeAll(async () => {
  victim = await verifiedAccount("inject-victim");
});

/** Sends and checks the invariants every answer keeps; returns status and text. */
async function probe(path: string, options: Parameters<typeof call>[1]) {
  const response = await call(path, options);
  const text = await response.text();
  expect(response.status, `${path}: ${text.slice(0, 200)}`).toBeLessThan(500);
  if (response.status >= 400) expect(errorShapeProblem(response, text)).toBeNull();
  // Nothing about another account, nor any stored secret, comes back.
  expect(text).not.toContain(victim.email);
  expect(text).not.toMatch(/pbkdf2-sha256\$|password_hash|sqlite|SQLITE_|D1_ERROR/i);
  return { status: response.status, text };
}

describe("SQL in every field", () => {
  const bodies = (s: string): [string, Record<string, unknown>][] => [
    ["/v1/auth/register", { email: s, password: PASSWORD, username: s }],
    ["/v1/auth/register", { email: uniqueEmail("sql"), password: PASSWORD, username: s, profilePicture: s }],
    ["/v1/auth/login", { email: s, password: s }],
    ["/v1/auth/login", { username: s, password: s }],
    ["/v1/auth/login", { email: victim.email, password: s }],
    ["/v1/auth/verify-email", { token: s.padEnd(43, "A") }],
    ["/v1/auth/resend-verification", { email: s }],
    ["/v1/auth/refresh", { refreshToken: s }],
    ["/v1/auth/revoke", { refreshToken: s.padEnd(86, "A") }],
    ["/v1/auth/forgot-password", { email: s, platformName: s, clientAlias: s }],
    ["/v1/auth/forgot-password", { email: uniqueEmail("sql"), platformName: s }],
    ["/v1/auth/reset-password", { email: victim.email, token: s.padEnd(43, "A"), newPassword: `${s}-long-enough` }],
    ["/auth/signin", { email: s, password: s }],
    ["/auth/refresh", { access_token: s, refresh_token: s }],
    ["/auth/refresh-token", { refreshToken: s }],
    ["/auth/forgot-password", { email: s, baseUrl: s }],
    [`/auth/password-reset/${encodeURIComponent(s)}`, { password: `${s}-long-enough`, token: s }],
  ];

  it("answers every SQL string with a normal answer and changes nothing it should not", async () => {
    const before = await stateSnapshot();
    for (const s of SQL) {
      for (const [path, body] of bodies(s)) await probe(path, { body });
    }
    const after = await stateSnapshot();
    // Only accepted requests may have written: no account was updated or verified, no session ended.
    expect({ verified: after.verified, revoked: after.revoked }).toEqual({ verified: before.verified, revoked: before.revoked });
    expect((await login(victim)).user.email).toBe(victim.email);
  });

  it("in bearer routes and every path parameter", async () => {
    const { accessToken, user } = await login(victim);
    for (const s of SQL) {
      const param = encodeURIComponent(s);
      await probe(`/v1/auth/sessions/${param}`, { method: "DELETE", token: accessToken });
      await probe(`/v1/auth/avatars/${param}`, {});
      await probe(`/auth/${param}/sessions`, { token: accessToken });
      await probe(`/auth/${param}/sessions`, { method: "DELETE", token: accessToken });
      await probe("/v1/auth/change-password", { token: accessToken, body: { currentPassword: s, newPassword: `${s}-new-one` } });
      await probe("/auth/signout", { token: accessToken, body: { sessionIds: [s] } });
      await probe("/auth/reset-password", { token: accessToken, body: { email: s, oldPassword: s, newPassword: `${s}-new-one` } });
    }
    const sessions = await json(await call("/v1/auth/sessions", { token: accessToken }));
    expect(sessions.sessions.some((s: Json) => s.current)).toBe(true);
    expect(sessions.sessions.every((s: Json) => typeof s.id === "string")).toBe(true);
    expect((await json(await call("/v1/auth/me", { token: accessToken }))).user.id).toBe(user.id);
  });

  it("stores a SQL-looking password and email as plain data", async () => {
    const email = `o'reilly+${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = "' OR '1'='1'; DROP TABLE users; --";
    const registered = await call("/v1/auth/register", { body: { email, password } });
    expect(registered.status).toBe(201);
    expect((await call("/v1/auth/verify-email", { body: { token: await mailedToken(email, "/verify-email") } })).status).toBe(200);
    expect((await login({ email, password })).user.email).toBe(email);
    // The string is a password, not a condition: a near miss fails.
    const wrong = await probe("/v1/auth/login", { body: { email, password: "' OR '1'='1" } });
    expect(wrong.status).toBe(401);
    expect((await login(victim)).user.email).toBe(victim.email);
  });
});

describe("mail fields", () => {
  it("keeps CR/LF and other separators out of the subject, and markup out of the HTML", async () => {
    const account = await verifiedAccount("inject-mail");
    const platformName = "Acme\r\nBcc: attacker@evil.example\r\n\r\n<script>alert(1)</script>\u2028X-Injected: 1\u0085\u0000";
    const response = await probe("/v1/auth/forgot-password", { body: { email: account.email, platformName } });
    expect(response.status).toBe(200);
    const reset = (await mailbox(account.email, 2)).find((m) => /reset/i.test(m.subject));
    expect(reset).toBeDefined();
    expect(reset!.to).toBe(account.email);
    expect(reset!.subject).not.toMatch(/[\r\n\u0000-\u001f\u0085\u2028\u2029]/);
    expect(reset!.subject).toContain("Acme");
    expect(reset!.html).not.toContain("<script>");
    expect(reset!.html).toContain("&lt;script&gt;");
    expect((await mailbox("attacker@evil.example", 1, 300)).length).toBe(0);
  });

  it("refuses CR/LF in an email address", async () => {
    for (const email of [
      `${victim.email}\r\nBcc: attacker@evil.example`,
      `${victim.email}%0d%0aBcc:attacker@evil.example`,
      `attacker@evil.example,${victim.email}`,
      `${victim.email}\u0000`,
    ]) {
      for (const path of ["/v1/auth/forgot-password", "/v1/auth/resend-verification"]) {
        expect((await probe(path, { body: { email } })).status).toBe(400);
      }
    }
    expect((await mailbox("attacker@evil.example", 1, 300)).length).toBe(0);
  });
});

describe("path parameters", () => {
  const uuid = "00000000-0000-4000-8000-000000000000";
  const hostile = [
    "..%2f..%2f..%2fetc%2fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "%2e%2e%2f%2e%2e%2fme",
    `${uuid}%00`,
    `${uuid}%00.png`,
    "%00",
    "a".repeat(8000),
    `${uuid}${"0".repeat(4000)}`,
    "%E0%A4%A",
    "%",
    "%0d%0aSet-Cookie:%20pwned=1",
  ];

  it("answers traversal, NUL bytes, broken escapes and overlong values with a §5 error", async () => {
    const { accessToken } = await login(victim);
    for (const param of hostile) {
      for (const [path, method] of [
        [`/v1/auth/sessions/${param}`, "DELETE"],
        [`/v1/auth/avatars/${param}`, "GET"],
        [`/auth/${param}/sessions`, "GET"],
        [`/auth/${param}/sessions`, "DELETE"],
        [`/auth/password-reset/${param}`, "POST"],
      ] as const) {
        const response = await call(path, {
          method,
          token: accessToken,
          ...(method === "POST" ? { body: { password: `${PASSWORD}-new`, token: "A".repeat(43) } } : {}),
        });
        const text = await response.text();
        expect(response.status, `${method} ${path.slice(0, 80)}: ${text.slice(0, 120)}`).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
        expect(errorShapeProblem(response, text)).toBeNull();
        expect(response.headers.get("set-cookie")).toBeNull();
      }
    }
    expect((await call("/v1/auth/me", { token: accessToken })).status).toBe(200);
  });

  it("does not resolve dot segments into another route", async () => {
    const { accessToken } = await login(victim);
    // The URL parser folds "..", and "%2e%2e" as a whole segment, before the Worker sees the path
    // (WHATWG URL); an encoded slash keeps the dots inside one parameter, which must stay one.
    for (const path of ["/v1/auth/avatars/%2e%2e%2f%2e%2e%2fopenapi.json", "/v1/auth/avatars/..%2f..%2f..%2fhealth"]) {
      const response = await call(path, { method: "GET", token: accessToken });
      expect(response.status).toBe(404);
      expect(errorShapeProblem(response, await response.text())).toBeNull();
    }
  });
});

describe("the mailed-link pages", () => {
  it("reflect nothing from a hostile query string into their HTML", async () => {
    const payload = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    for (const page of ["/reset-password", "/verify-email"]) {
      const query = new URLSearchParams({ token: payload, email: payload, baseUrl: "javascript:alert(3)" });
      const response = await call(`${page}?${query}`);
      const html = await response.text();
      expect(response.status).toBe(200);
      expect(html).not.toContain("<script>alert(1)");
      expect(html).not.toContain("onerror=alert(2)");
      expect(html).not.toContain("javascript:alert(3)");
      expect(response.headers.get("content-security-policy")).toMatch(/script-src 'nonce-/);
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });
});
