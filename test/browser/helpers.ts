/**
 * Helpers of the browser project (Node, not workerd, so test/helpers.ts with its `cloudflare:*`
 * imports cannot serve here): HTTP calls to the `wrangler dev` the global setup started, the dev
 * outbox, and a headless Chromium (Debian's, never a downloaded one) with a fresh profile (an
 * empty userDataDir makes Playwright create a temporary one and delete it on close) that records
 * every console error, page error and request leaving the service's origin.
 *
 * @example
 * const browser = await openBrowser();
 * await browser.page.goto(link);
 * expect(browser.problems).toEqual([]);
 * await browser.close();
 */
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { expect, inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Where scripts/browser-test-service.mjs started `wrangler dev`. */
    serviceUrl: string;
    /** The service's random ADMIN_API_KEY (the admin console's tests). */
    adminKey: string;
    /**
     * The receiver behind the `console` webhook endpoint of WEBHOOKS (scripts/webhook-receiver.mjs:
     * `POST ${url}/rules`, `GET ${url}/received`), refusing (503) until a rule says otherwise, and the
     * endpoint's secret.
     */
    consoleWebhook: { url: string; secret: string };
  }
}

export const serviceUrl = inject("serviceUrl");
export const PASSWORD = "violet-harbor-lantern-42";
export const NEW_PASSWORD = "quiet-meadow-copper-77";

let counter = Math.floor(Math.random() * 60_000);
/** A fresh client address per call, so the real per-IP rate limiter never couples tests. */
const freshIp = () => {
  counter += 1;
  return `10.250.${(counter >> 8) & 255}.${counter & 255}`;
};

export async function api(path: string, body?: unknown): Promise<Response> {
  return fetch(`${serviceUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export const uniqueEmail = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;

export async function loginStatus(email: string, password: string): Promise<number> {
  return (await api("/v1/auth/login", { email, password })).status;
}

/** The newest link to `page` mailed to `to`, from the dev outbox, waiting for the `count`-th mail. */
export async function mailedLink(to: string, page: "/reset-password" | "/verify-email", count = 1): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${serviceUrl}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await response.json()) as { messages: { text: string }[] };
    const link = messages.length >= count ? messages[0]?.text.match(new RegExp(`https?://\\S+${page}\\?\\S+`))?.[0] : undefined;
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no ${page} link mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Registers `email` over HTTP and confirms it with the mailed token (over HTTP too). */
export async function verifiedAccount(label: string): Promise<string> {
  const email = uniqueEmail(label);
  expect((await api("/v1/auth/register", { email, password: PASSWORD })).status).toBe(201);
  const token = new URL(await mailedLink(email, "/verify-email")).searchParams.get("token");
  expect((await api("/v1/auth/verify-email", { token })).status).toBe(200);
  return email;
}

export interface OpenBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors (CSP violations show up as console errors) and foreign requests. */
  problems: string[];
  /** Every request the page made, as "METHOD URL". */
  requests: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<OpenBrowser> {
  const context = await chromium.launchPersistentContext("", {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("console", (message) => {
    // Chromium logs every 4xx answer to fetch; those are outcomes the page handles, not problems.
    const expectedRefusal = /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text());
    if (message.type() === "error" && !expectedRefusal) problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    requests.push(`${request.method()} ${request.url()}`);
    if (!request.url().startsWith(`${serviceUrl}/`)) problems.push(`foreign request: ${request.url()}`);
  });
  return {
    context,
    page,
    problems,
    requests,
    close: () => context.close(),
  };
}
