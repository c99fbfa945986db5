/**
 * The email-verification page in headless Chromium against a real `wrangler dev`: opening the
 * mailed link verifies nothing (mail scanners open links too); the person's click does, and then
 * the password login works.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PASSWORD, api, loginStatus, mailedLink, openBrowser, serviceUrl, uniqueEmail } from "./helpers";
import type { OpenBrowser } from "./helpers";

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

async function registered(label: string): Promise<{ email: string; link: string }> {
  const email = uniqueEmail(label);
  expect((await api("/v1/auth/register", { email, password: PASSWORD })).status).toBe(201);
  return { email, link: await mailedLink(email, "/verify-email") };
}

describe("verify-email page", () => {
  it("does not verify on a plain GET; the click does, and login then works", async () => {
    const { email, link } = await registered("browser-verify");
    expect(link.startsWith(`${serviceUrl}/verify-email?token=`)).toBe(true);

    // A mail scanner fetches the link without running scripts, and a browser just opens it.
    expect((await fetch(link)).status).toBe(200);
    const { page } = browser;
    const response = await page.goto(link);
    expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
    expect(page.url()).toBe(`${serviceUrl}/verify-email`);
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("confirm");
    expect(await page.locator("#address").textContent()).toBe(email);
    expect(await loginStatus(email, PASSWORD)).toBe(401);
    expect(browser.requests.filter((r) => r.startsWith("POST"))).toEqual([]);

    await page.getByRole("button", { name: "Confirm my email" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Your email is confirmed.");
    expect(await page.evaluate("document.activeElement?.id")).toBe("outcome");
    expect(browser.requests).toEqual([`GET ${link}`, `POST ${serviceUrl}/v1/auth/verify-email`]);
    expect(browser.problems).toEqual([]);
    expect(await loginStatus(email, PASSWORD)).toBe(200);
  });

  it("tells the person when the link was already used", async () => {
    const { link } = await registered("browser-verify-spent");
    expect((await api("/v1/auth/verify-email", { token: new URL(link).searchParams.get("token") })).status).toBe(200);
    const { page } = browser;
    await page.goto(link);
    await page.getByRole("button", { name: "Confirm my email" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("This link is invalid, already used or expired.");
    expect(browser.problems).toEqual([]);
  });
});
