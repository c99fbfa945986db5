/**
 * Helpers of the admin console's browser tests (test/browser/admin-console*.test.ts): the admin API
 * from Node (the key from scripts/browser-test-service.mjs), accounts with live sessions, a
 * console in Chromium from a fresh client address that records every CSP violation the page
 * reports (`securitypolicyviolation`), signing in, and the horizontal-scroll check.
 *
 * @example
 * const console = await openConsole();
 * await signIn(console.page);
 * expect(await violations(console.page)).toEqual([]);
 */
import type { Page } from "playwright-core";
import { expect, inject } from "vitest";
import { PASSWORD, api, mailedLink, openBrowser, serviceUrl } from "./helpers";
import type { OpenBrowser } from "./helpers";

export const adminKey = inject("adminKey");
export const consoleUrl = `${serviceUrl}/admin`;

let counter = Math.floor(Math.random() * 60_000);
/** A client address no other test uses, so the per-IP buckets of one test never touch another's. */
export const freshIp = () => {
  counter += 1;
  return `10.252.${(counter >> 8) & 255}.${counter & 255}`;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field
export type Json = any;

/** One admin API call from Node with the right key (or `key`), from `ip` (fresh by default). */
export function adminApi(path: string, init: { method?: string; ip?: string; key?: string } = {}): Promise<Response> {
  return fetch(`${serviceUrl}/v1/admin${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${init.key ?? adminKey}`, "cf-connecting-ip": init.ip ?? freshIp() },
  });
}

export async function adminUser(userId: string): Promise<Json> {
  const response = await adminApi(`/users/${userId}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

/** A password login from Node with the given User-Agent; the answer. */
export function loginAs(email: string, userAgent = "admin-console-test", ip = freshIp()): Promise<Response> {
  return fetch(`${serviceUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": ip, "user-agent": userAgent },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
}

/** A verified account whose address starts with `prefix` (unique), signed in once; its email, id and token pair. */
export async function accountWithSession(prefix: string, userAgent?: string): Promise<{ email: string; userId: string; accessToken: string; refreshToken: string }> {
  const email = `${prefix}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  expect((await api("/v1/auth/register", { email, password: PASSWORD })).status).toBe(201);
  const token = new URL(await mailedLink(email, "/verify-email")).searchParams.get("token");
  expect((await api("/v1/auth/verify-email", { token })).status).toBe(200);
  const response = await loginAs(email, userAgent);
  expect(response.status).toBe(200);
  const pair = (await response.json()) as Json;
  return { email, userId: pair.user.id, accessToken: pair.accessToken, refreshToken: pair.refreshToken };
}

export interface OpenConsole extends OpenBrowser {
  /** The client address every request of this browser carries (CF-Connecting-IP). */
  ip: string;
}

/** Chromium on /admin, from a fresh client address, recording CSP violations in `window.__violations`. */
export async function openConsole(viewport = { width: 1280, height: 860 }): Promise<OpenConsole> {
  const browser = await openBrowser();
  const ip = freshIp();
  await browser.context.setExtraHTTPHeaders({ "cf-connecting-ip": ip });
  await browser.context.addInitScript(`
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
  `);
  await browser.page.setViewportSize(viewport);
  const response = await browser.page.goto(consoleUrl);
  expect(response?.status()).toBe(200);
  return { ...browser, ip };
}

/** The CSP violations the page has reported so far. */
export const violations = (page: Page): Promise<string[]> => page.evaluate("window.__violations") as Promise<string[]>;

/** Signs in with `key` (the right one by default) and waits for the users' search. */
export async function signIn(page: Page, key = adminKey): Promise<void> {
  await page.getByLabel("Admin key").fill(key);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByLabel("Search users").waitFor();
}

/** Types into "Search users" and waits until the row of `email` is listed; that row's link. */
export async function searchFor(page: Page, query: string, email: string) {
  await page.getByLabel("Search users").fill(query);
  await page.getByLabel("Search users").press("Enter");
  const row = page.getByRole("link", { name: new RegExp(email.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) });
  await row.waitFor();
  return row;
}

/** True when the page is wider than the viewport (it would scroll sideways). */
export const scrollsSideways = (page: Page): Promise<boolean> =>
  page.evaluate("document.documentElement.scrollWidth > window.innerWidth || document.body.scrollWidth > window.innerWidth") as Promise<boolean>;
