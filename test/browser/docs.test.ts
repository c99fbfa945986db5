/**
 * The API reference at /docs in headless Chromium against a real `wrangler dev`: it renders the
 * operations of the OpenAPI document and a place for the bearer token, with everything loaded
 * from the service itself (no foreign request, no CSP violation, no console error).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openBrowser, serviceUrl } from "./helpers";
import type { OpenBrowser } from "./helpers";

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

describe("/docs", () => {
  it("lists the operations and offers a place for the bearer token, loading nothing from elsewhere", async () => {
    const { page } = browser;
    const response = await page.goto(`${serviceUrl}/docs`);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.getByText("Start a guest session", { exact: false }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    // Every tag's operations are listed (the sidebar names them all; the page renders them lazily).
    const summaries = ["Rotate a refresh token", "Sign in with email and password (document 001)", "Liveness"];
    await expect
      .poll(async () => {
        const text = (await page.textContent("body")) ?? "";
        return summaries.filter((s) => !text.includes(s));
      }, { timeout: 15_000 })
      .toEqual([]);
    await expect
      .poll(() => page.locator("input[placeholder*='oken' i], input[aria-label*='oken' i], label:has-text('Bearer')").count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    expect(browser.problems).toEqual([]);
    expect(browser.requests.every((r) => r.split(" ")[1]!.startsWith(`${serviceUrl}/`))).toBe(true);
    expect(browser.requests).toContain(`GET ${serviceUrl}/openapi.json`);
  });
});
