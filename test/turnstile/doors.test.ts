/**
 * Turnstile (API.md §17) on every door of every default route, through the real Worker with
 * Turnstile on (this file's environment only) against the siteverify stand-in on loopback
 * (scripts/siteverify-server.mjs): refused without a token or with a forged, spent or expired one;
 * accepted with one in the body or the header; 503 when siteverify hangs or answers 5xx. A refused
 * request does no work: no guest, no account, no code, no mail, no per-address mail count.
 */
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/crypto";
import { PASSWORD, call, env, expectError, freshIp, json, mailbox, uniqueEmail, verifiedAccount } from "../helpers";
import { issueToken, receivedFor, sendWith, turnstileEnv } from "../helpers/turnstile";

const on = turnstileEnv();
/** Siteverify may take 600 ms here, so a hanging one is given up on quickly. */
const quick = turnstileEnv({ TURNSTILE_TIMEOUT_MS: "600" });

const count = async (query: string, ...binds: unknown[]) => (await env.DB.prepare(query).bind(...binds).first<{ n: number }>())?.n ?? 0;
const mails = async (email: string) => (await mailbox(email, 1_000, 0)).length;
const mailCounter = async (email: string) => count("SELECT COUNT(*) AS n FROM counters WHERE key = ?", `mail:${await sha256(email.toLowerCase())}`);

/** One request's target: its body, its client address, and a probe of the work done for it. */
interface Target {
  body: Record<string, unknown>;
  ip: string;
  work: () => Promise<number>;
}

interface Door {
  path: string;
  status: number;
  prepare(): Promise<Target>;
}

async function unverifiedAccount(): Promise<string> {
  const email = uniqueEmail("ts-unverified");
  expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
  // The verification mail goes out after the answer: wait for it, so it is not counted as work later.
  expect(await mailbox(email, 1)).toHaveLength(1);
  return email;
}

const guestDoor = (path: string): Door => ({
  path,
  status: 200,
  async prepare() {
    const ip = freshIp();
    // The work is a guest created (its row; D1 keeps no client of a held session and no `sign_in`
    // staged, issue 27 slice 8). This file's tests run one at a time: nobody else creates one meanwhile.
    const since = Date.now();
    return { body: {}, ip, work: async () => count("SELECT COUNT(*) AS n FROM users WHERE is_guest = 1 AND created_at >= ?", since) };
  },
});

/** A mail route for an existing account: the work is the mail (beyond those already sent) and the per-address count. */
const mailDoor = (path: string, account: () => Promise<string>, counted: boolean): Door => ({
  path,
  status: 200,
  async prepare() {
    const email = await account();
    const before = await mails(email);
    return { body: { email }, ip: freshIp(), work: async () => (await mails(email)) - before + (counted ? await mailCounter(email) : 0) };
  },
});

const DOORS: Door[] = [
  guestDoor("/v1/auth/guest"),
  guestDoor("/auth/guest"),
  {
    path: "/v1/auth/register",
    status: 201,
    async prepare() {
      const email = uniqueEmail("ts-register");
      return { body: { email, password: PASSWORD }, ip: freshIp(), work: async () => (await count("SELECT COUNT(*) AS n FROM users WHERE email_normalized = ?", email)) + (await mails(email)) };
    },
  },
  {
    path: "/v1/auth/email-code",
    status: 200,
    async prepare() {
      const email = uniqueEmail("ts-code");
      return { body: { email }, ip: freshIp(), work: async () => (await count("SELECT COUNT(*) AS n FROM email_codes WHERE email_normalized = ?", email)) + (await mails(email)) };
    },
  },
  mailDoor("/v1/auth/forgot-password", async () => (await verifiedAccount("ts-forgot")).email, true),
  mailDoor("/auth/forgot-password", async () => (await verifiedAccount("ts-forgot001")).email, true),
  mailDoor("/v1/auth/resend-verification", unverifiedAccount, true),
  mailDoor("/v1/auth/request-deletion", async () => (await verifiedAccount("ts-delete")).email, false),
];

describe.each(DOORS)("POST $path with Turnstile on", (door) => {
  it("refuses (403 captcha_required) without a token, or with a forged, spent or expired one, and does no work", async () => {
    const target = await door.prepare();
    // No token: refused before validation too (an empty body is not a 400 first).
    await expectError(await sendWith(on, door.path, { body: target.body, ip: target.ip }), 403, "captcha_required");
    await expectError(await sendWith(on, door.path, { body: {}, ip: target.ip }), 403, "captcha_required");
    await expectError(await sendWith(on, door.path, { body: target.body, ip: target.ip, headers: { "cf-turnstile-response": "" } }), 403, "captcha_required");
    // A token siteverify never issued.
    const forged = `0.forged-${crypto.randomUUID()}`;
    await expectError(await sendWith(on, door.path, { body: { ...target.body, turnstileToken: forged }, ip: target.ip }), 403, "captcha_required");
    expect((await receivedFor(forged)).map((r) => r.answered)).toEqual([200]);
    // Expired: issued more than 300 s ago.
    const expired = await issueToken({ ageSeconds: 301 });
    await expectError(await sendWith(on, door.path, { body: { ...target.body, turnstileToken: expired }, ip: target.ip }), 403, "captcha_required");
    expect(await target.work()).toBe(0);

    // Spent: it passed once (that request did its work), and is refused the second time.
    const token = await issueToken();
    const first = await door.prepare();
    expect((await sendWith(on, door.path, { body: { ...first.body, turnstileToken: token }, ip: first.ip })).status).toBe(door.status);
    expect(await first.work()).toBeGreaterThan(0);
    const second = await door.prepare();
    await expectError(await sendWith(on, door.path, { body: { ...second.body, turnstileToken: token }, ip: second.ip }), 403, "captcha_required");
    expect(await second.work()).toBe(0);
    expect(await receivedFor(token)).toHaveLength(2);
  });

  it("accepts a token in the body or the CF-Turnstile-Response header, checked with siteverify", async () => {
    for (const where of ["body", "header"] as const) {
      const target = await door.prepare();
      const token = await issueToken();
      const response = await sendWith(on, door.path, {
        body: where === "body" ? { ...target.body, turnstileToken: token } : target.body,
        headers: where === "header" ? { "cf-turnstile-response": token, "x-forwarded-for": "203.0.113.77" } : {},
        ip: target.ip,
      });
      expect(response.status, await response.clone().text()).toBe(door.status);
      expect(await target.work()).toBeGreaterThan(0);
      const [check, ...more] = await receivedFor(token);
      expect(more).toEqual([]);
      expect(check).toMatchObject({ secretOk: true, remoteip: target.ip, answered: 200 });
      expect(check!.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(check!.idempotencyKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it("answers 503 unavailable, doing no work, when siteverify hangs or answers 5xx", async () => {
    const target = await door.prepare();
    const hang = await issueToken({ behaviour: "hang" });
    const started = Date.now();
    const hung = await sendWith(quick, door.path, { body: { ...target.body, turnstileToken: hang }, ip: target.ip });
    const waited = Date.now() - started;
    await expectError(hung, 503, "unavailable");
    expect(hung.headers.get("Retry-After")).toBe("5");
    expect(waited).toBeGreaterThanOrEqual(550);
    expect(waited).toBeLessThan(5_000);
    expect(await receivedFor(hang)).toHaveLength(1);

    const failing = await issueToken({ behaviour: "error" });
    await expectError(await sendWith(quick, door.path, { body: { ...target.body, turnstileToken: failing }, ip: target.ip }), 503, "unavailable");
    // Retried once, with the same idempotency key.
    const checks = await receivedFor(failing);
    expect(checks.map((r) => r.answered)).toEqual([500, 500]);
    expect(new Set(checks.map((r) => r.idempotencyKey)).size).toBe(1);
    expect(await target.work()).toBe(0);
  });
});

describe("the token's body field", () => {
  it("is read from a multipart form as the widget names it (cf-turnstile-response), and as turnstileToken", async () => {
    for (const field of ["cf-turnstile-response", "turnstileToken"]) {
      const email = uniqueEmail("ts-form");
      const token = await issueToken();
      const form = new FormData();
      form.set("email", email);
      form.set("password", PASSWORD);
      form.set(field, token);
      const response = await sendWith(on, "/v1/auth/register", { form });
      expect(response.status, await response.clone().text()).toBe(201);
      expect((await json(response)).user.email).toBe(email);
      expect(await receivedFor(token)).toHaveLength(1);
    }
    const form = new FormData();
    form.set("email", uniqueEmail("ts-form-none"));
    form.set("password", PASSWORD);
    await expectError(await sendWith(on, "/v1/auth/register", { form }), 403, "captcha_required");
  });

  it("is accepted in snake_case (turnstile_token), like every input field", async () => {
    const token = await issueToken();
    expect((await sendWith(on, "/v1/auth/guest", { body: { turnstile_token: token } })).status).toBe(200);
    expect(await receivedFor(token)).toHaveLength(1);
  });
});
