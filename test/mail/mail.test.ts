/**
 * Mail transports (API.md §7; src/mail/index.ts), chosen by MAIL_TRANSPORT. Each case runs the real
 * Worker (`app.fetch`) with the real bindings plus the variables that pick a transport:
 * - http: a real HTTP server on 127.0.0.1 (scripts/mail-api-server.mjs) that checks every payload;
 * - cloudflare: Miniflare's local `send_email` binding EMAIL, which only lets no-reply@example.com send;
 * - outbox: D1, broken on purpose with a trigger that RAISE(ABORT)s for one recipient.
 * Whatever happens to delivery, the answer is the same; a failure is logged with a masked address.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import app from "../../src";
import { loadConfig } from "../../src/config";
import { deliver, safeReason } from "../../src/mail";
import { resetMail } from "../../src/mail/templates";
import { BASE, PASSWORD, captureLogs, env, freshIp, json, mailbox, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";

declare module "vitest" {
  export interface ProvidedContext {
    /** The real local mail API of scripts/mail-api-server.mjs, and the bearer key it expects. */
    mailApiUrl: string;
    mailApiKey: string;
  }
}

const mailApiUrl = inject("mailApiUrl");
const mailApiKey = inject("mailApiKey");
const FORGOT_ANSWER = { message: "If an account uses this address, a reset link is on its way." };

const httpVars = { MAIL_TRANSPORT: "http", MAIL_API_URL: `${mailApiUrl}/emails`, MAIL_API_KEY: mailApiKey };

/** One request to the real Worker with extra variables, waiting for its after-the-answer work. */
async function callWith(vars: Record<string, string | undefined>, path: string, body: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() },
    body: JSON.stringify(body),
  });
  const response = await app.fetch(request, { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function received(to: string): Promise<Json[]> {
  const response = await fetch(`${mailApiUrl}/received?to=${encodeURIComponent(to)}`);
  return ((await response.json()) as { received: Json[] }).received;
}

/** Runs `fn` with the console captured; returns the capture after restoring the console. */
async function logged(fn: () => Promise<void>) {
  const logs = captureLogs();
  try {
    await fn();
  } finally {
    logs.restore();
  }
  return logs;
}

describe("http transport", () => {
  it("POSTs a Resend-style JSON payload with the bearer key, which the real endpoint accepts", async () => {
    const account = await verifiedAccount("http");
    const response = await callWith(httpVars, "/v1/auth/forgot-password", { email: account.email });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual(FORGOT_ANSWER);

    const [sent, ...more] = await received(account.email);
    expect(more).toHaveLength(0);
    expect(sent).toMatchObject({ accepted: true, status: 200, problem: null, authorization: `Bearer ${mailApiKey}` });
    expect(sent.contentType).toMatch(/^application\/json/);
    expect(sent.body).toMatchObject({ from: "no-reply@example.com", to: [account.email], subject: "Reset your Edge Auth password" });
    const link = String(sent.body.text).match(/http:\/\/auth\.test\/reset-password\?\S+/)?.[0];
    expect(link).toBeDefined();
    expect(new URL(link!).searchParams.get("token")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sent.body.html).toContain(link!.replace(/&/g, "&amp;"));
    expect(await mailbox(account.email, 2, 300)).toHaveLength(1); // only the verification mail went to the outbox
  });

  it("carries the verification mail of a registration through the same transport", async () => {
    const email = uniqueEmail("http-register");
    const response = await callWith(httpVars, "/v1/auth/register", { email, password: PASSWORD });
    expect(response.status).toBe(201);
    const [sent] = await received(email);
    expect(sent).toMatchObject({ accepted: true, body: { to: [email], subject: "Confirm your email for Edge Auth" } });
    expect(sent.body.text).toContain("http://auth.test/verify-email?token=");
  });

  it("logs a refused delivery with a masked address and answers exactly as before", async () => {
    const account = await verifiedAccount("fail"); // the test server refuses "fail-…" with 503
    let response!: Response;
    const logs = await logged(async () => {
      response = await callWith(httpVars, "/v1/auth/forgot-password", { email: account.email });
    });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual(FORGOT_ANSWER);
    expect((await received(account.email)).map((r) => r.status)).toEqual([503]);
    const [failure] = logs.events("mail.failed");
    expect(failure).toMatchObject({ level: "error", transport: "http", to: "f***@example.com", reason: "Error: mail API answered 503" });
    expect(logs.text()).not.toContain(account.email);
    expect(logs.text()).not.toContain(mailApiKey);
  });

  it("logs an unreachable mail API and still answers the same", async () => {
    const account = await verifiedAccount("http-down");
    let response!: Response;
    const logs = await logged(async () => {
      response = await callWith({ ...httpVars, MAIL_API_URL: "http://127.0.0.1:9/emails" }, "/v1/auth/forgot-password", { email: account.email });
    });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual(FORGOT_ANSWER);
    expect(logs.events("mail.failed")).toEqual([expect.objectContaining({ transport: "http", to: "h***@example.com" })]);
  });
});

describe("cloudflare transport (Miniflare's local send_email binding)", () => {
  it("hands the mail to the EMAIL binding, which accepts it", async () => {
    const account = await verifiedAccount("cf");
    let response!: Response;
    const logs = await logged(async () => {
      response = await callWith({ MAIL_TRANSPORT: "cloudflare" }, "/v1/auth/forgot-password", { email: account.email });
    });
    expect(response.status).toBe(200);
    expect(logs.events("mail.sent")).toEqual([expect.objectContaining({ transport: "cloudflare", to: "c***@example.com" })]);
    expect(logs.events("mail.failed")).toEqual([]);
  });

  it("logs the binding's refusal (a sender it does not allow) with every address masked", async () => {
    const account = await verifiedAccount("cf-refused");
    let response!: Response;
    const logs = await logged(async () => {
      response = await callWith({ MAIL_TRANSPORT: "cloudflare", MAIL_FROM: "spoofed@example.com" }, "/v1/auth/forgot-password", { email: account.email });
    });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual(FORGOT_ANSWER);
    const [failure] = logs.events("mail.failed");
    expect(failure).toMatchObject({ transport: "cloudflare", to: "c***@example.com" });
    expect(failure.reason).toContain("s***@example.com");
    expect(logs.text()).not.toContain("spoofed@example.com");
  });

  it("logs a missing binding instead of failing the request", async () => {
    const account = await verifiedAccount("cf-missing");
    let response!: Response;
    const logs = await logged(async () => {
      response = await callWith({ MAIL_TRANSPORT: "cloudflare", EMAIL: undefined }, "/v1/auth/forgot-password", { email: account.email });
    });
    expect(response.status).toBe(200);
    expect(logs.events("mail.failed")[0].reason).toContain("needs a send_email binding named EMAIL");
  });
});

describe("outbox transport", () => {
  it("logs a failed insert (a real D1 trigger that aborts) and answers the same", async () => {
    const account = await verifiedAccount("outbox-down");
    const trigger = `fail_outbox_${crypto.randomUUID().replace(/-/g, "")}`;
    const address = account.email.replace(/'/g, "''");
    await env.DB.exec(`CREATE TRIGGER ${trigger} BEFORE INSERT ON mail_outbox WHEN NEW."to" = '${address}' BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END`);
    let response!: Response;
    try {
      const logs = await logged(async () => {
        response = await callWith({}, "/v1/auth/forgot-password", { email: account.email });
      });
      expect(logs.events("mail.failed")).toEqual([expect.objectContaining({ transport: "outbox", to: "o***@example.com" })]);
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual(FORGOT_ANSWER);
    expect(await mailbox(account.email, 2, 300)).toHaveLength(1);
  });
});

describe("deliver", () => {
  const deps = { env, config: loadConfig(env), requestId: "test" };

  it("reports a mail that was never composed (its lookup failed) as a failure without an address", async () => {
    const logs = await logged(async () => {
      expect(await deliver(deps, () => Promise.reject(new Error("D1 is down")))).toBe(false);
    });
    const [failure] = logs.events("mail.failed");
    expect(failure).toMatchObject({ reason: "Error: D1 is down" });
    expect(failure).not.toHaveProperty("to");
  });

  it("sends nothing and logs nothing for a lookup that found no one", async () => {
    const logs = await logged(async () => {
      expect(await deliver(deps, async () => null)).toBe(false);
    });
    expect(logs.lines).toEqual([]);
  });

  it("writes to the outbox by default", async () => {
    const to = uniqueEmail("deliver");
    const mail = resetMail({ to, platformName: "Acme", link: "https://app.example.com/reset-password?token=t", minutes: 30 });
    expect(await deliver(deps, mail)).toBe(true);
    const [stored] = await mailbox(to);
    expect(stored).toMatchObject({ to, subject: mail.subject, text: mail.text, html: mail.html });
  });
});

describe("safeReason", () => {
  it("masks every address in an error message and bounds its length", () => {
    expect(safeReason(new Error("email to alice@example.com from bob@example.org not allowed"))).toBe(
      "Error: email to a***@example.com from b***@example.org not allowed",
    );
    expect(safeReason(new TypeError("x".repeat(500)))).toHaveLength(200);
    expect(safeReason("a string")).toBe("unknown");
  });
});
