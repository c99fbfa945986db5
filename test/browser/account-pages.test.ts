/**
 * The account-lifecycle pages in headless Chromium against a real `wrangler dev`: /delete-account
 * without a token (an email form that asks for the link) and with the mailed token (a confirm
 * button that deletes), and /confirm-email-change. Opening a link changes nothing; the click does;
 * the token leaves the address bar at once; nothing loads from elsewhere and the CSP holds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PASSWORD, api, loginStatus, openBrowser, serviceUrl, uniqueEmail, verifiedAccount } from "./helpers";
import type { OpenBrowser } from "./helpers";

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

/** The newest link to `page` in the mail to `to`, waiting for the `count`-th mail. */
async function linkTo(to: string, page: string, count: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${serviceUrl}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await response.json()) as { messages: { text: string }[] };
    const link = messages.length >= count ? messages.map((m) => m.text.match(new RegExp(`https?://\\S+${page}\\?\\S+`))?.[0]).find(Boolean) : undefined;
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no ${page} link mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("delete-account page", () => {
  it("without a token: the email form asks for a link; with it: the button deletes the account", async () => {
    const email = await verifiedAccount("browser-delete");
    const { page } = browser;
    const opened = await page.goto(`${serviceUrl}/delete-account`);
    expect(opened?.status()).toBe(200);
    expect(opened?.headers()["referrer-policy"]).toBe("no-referrer");
    expect(opened?.headers()["content-security-policy"]).toMatch(/script-src 'nonce-[^']+'/);
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Email me a deletion link" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("a link to delete it is on its way");
    expect(browser.requests.filter((r) => r.startsWith("POST"))).toEqual([`POST ${serviceUrl}/v1/auth/request-deletion`]);

    const link = await linkTo(email, "/delete-account", 2);
    expect(link.startsWith(`${serviceUrl}/delete-account?token=`)).toBe(true);
    // Opening the link (a mail scanner, or the person) deletes nothing.
    expect((await fetch(link)).status).toBe(200);
    await page.goto(link);
    expect(page.url()).toBe(`${serviceUrl}/delete-account`);
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("delete");
    expect(await loginStatus(email, PASSWORD)).toBe(200);

    await page.getByRole("button", { name: "Delete my account" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Your account was deleted.");
    expect(browser.requests.filter((r) => r.startsWith("POST")).at(-1)).toBe(`POST ${serviceUrl}/v1/auth/confirm-deletion`);
    expect(await loginStatus(email, PASSWORD)).toBe(401);
    expect((await api("/v1/auth/register", { email, password: PASSWORD })).status).toBe(201);

    // The same link again: spent.
    await page.goto(link);
    await page.getByRole("button", { name: "Delete my account" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("This link is invalid, already used or expired.");
    expect(browser.problems).toEqual([]);
  });
});

describe("confirm-email-change page", () => {
  it("moves the account to the new address on the click, not on opening", async () => {
    const email = await verifiedAccount("browser-move");
    const signedIn = (await (await api("/v1/auth/login", { email, password: PASSWORD })).json()) as { accessToken: string };
    const newEmail = uniqueEmail("browser-moved");
    const requested = await fetch(`${serviceUrl}/v1/auth/change-email`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${signedIn.accessToken}`, "cf-connecting-ip": "10.251.0.1" },
      body: JSON.stringify({ newEmail, password: PASSWORD }),
    });
    expect(requested.status).toBe(200);
    const link = await linkTo(newEmail, "/confirm-email-change", 1);
    const { page } = browser;
    expect((await fetch(link)).status).toBe(200);
    await page.goto(link);
    expect(page.url()).toBe(`${serviceUrl}/confirm-email-change`);
    expect(await loginStatus(email, PASSWORD)).toBe(200);
    await page.getByRole("button", { name: "Confirm new email" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Your new address is confirmed.");
    expect(await page.locator("#address").textContent()).toBe(newEmail);
    expect(await loginStatus(newEmail, PASSWORD)).toBe(200);
    expect(await loginStatus(email, PASSWORD)).toBe(401);
    expect(browser.problems).toEqual([]);
  });
});
