/**
 * The password-reset page in headless Chromium against a real `wrangler dev`: the mailed link
 * opens the form, the token leaves the address bar at once, a new password is set through the
 * API and login works with it; mistakes and spent links show their outcome in the live region.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NEW_PASSWORD, PASSWORD, api, loginStatus, mailedLink, openBrowser, serviceUrl, verifiedAccount } from "./helpers";
import type { OpenBrowser } from "./helpers";

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

/** Asks for a reset over HTTP and returns the mailed link (the account's second mail). */
async function resetLinkFor(email: string, count = 2): Promise<string> {
  expect((await api("/v1/auth/forgot-password", { email })).status).toBe(200);
  return mailedLink(email, "/reset-password", count);
}

describe("reset-password page", () => {
  it("sets a new password from the mailed link, and the new password logs in", async () => {
    const email = await verifiedAccount("browser-reset");
    const link = await resetLinkFor(email);
    expect(link.startsWith(`${serviceUrl}/reset-password?token=`)).toBe(true);
    const { page } = browser;

    const response = await page.goto(link);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
    expect(page.url()).toBe(`${serviceUrl}/reset-password`);
    expect(await page.evaluate("location.href")).toBe(`${serviceUrl}/reset-password`);
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("password");
    expect(await page.getByLabel("Email").inputValue()).toBe(email);

    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();

    const outcome = page.getByRole("status");
    await expect.poll(() => outcome.textContent()).toContain("Your password is set.");
    expect(await page.evaluate("document.activeElement?.id")).toBe("outcome");
    expect(await page.locator("#form").isHidden()).toBe(true);
    expect(browser.requests).toEqual([`GET ${link}`, `POST ${serviceUrl}/v1/auth/reset-password`]);
    expect(browser.problems).toEqual([]);

    expect(await loginStatus(email, NEW_PASSWORD)).toBe(200);
    expect(await loginStatus(email, PASSWORD)).toBe(401);
  });

  it("catches mismatched passwords and a weak one without spending the link", async () => {
    const email = await verifiedAccount("browser-mistakes");
    const { page } = browser;
    await page.goto(await resetLinkFor(email));
    const outcome = page.getByRole("status");

    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(`${NEW_PASSWORD}x`);
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => outcome.textContent()).toContain("The two passwords differ.");
    expect(browser.requests.filter((r) => r.startsWith("POST"))).toEqual([]);

    await page.getByLabel("New password", { exact: true }).fill("password123");
    await page.getByLabel("Repeat the new password").fill("password123");
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => outcome.textContent()).toContain("The new password is too common");

    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => outcome.textContent()).toContain("Your password is set.");
    expect(browser.problems).toEqual([]);
    expect(await loginStatus(email, NEW_PASSWORD)).toBe(200);
  });

  it("tells the person when the link was already used", async () => {
    const email = await verifiedAccount("browser-spent");
    const link = await resetLinkFor(email);
    const token = new URL(link).searchParams.get("token");
    expect((await api("/v1/auth/reset-password", { email, token, newPassword: NEW_PASSWORD })).status).toBe(200);

    const { page } = browser;
    await page.goto(link);
    await page.getByLabel("New password", { exact: true }).fill("yet-another-password-31");
    await page.getByLabel("Repeat the new password").fill("yet-another-password-31");
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("This link is invalid, already used or expired.");
    expect(await page.locator("#form").isHidden()).toBe(true);
    expect(await loginStatus(email, NEW_PASSWORD)).toBe(200);
  });

  it("carries the brand of the mail and, once done, links back to the app it was sent for", async () => {
    const email = await verifiedAccount("browser-brand");
    // The service's own origin stands in for the app (the browser service allows it as a redirect origin).
    const forgot = await api("/v1/auth/forgot-password", { email, platformName: "Drssed", baseUrl: serviceUrl });
    expect(forgot.status).toBe(200);
    const link = await mailedLink(email, "/reset-password", 2);
    const { page } = browser;
    await page.goto(link);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Choose a new Drssed password");
    expect(await page.title()).toBe("Reset your Drssed password");
    const back = page.getByRole("link", { name: "Back to Drssed" });
    expect(await back.isVisible()).toBe(false);
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Your password is set.");
    await expect.poll(() => back.isVisible()).toBe(true);
    expect(await back.getAttribute("href")).toBe(serviceUrl);
    expect(browser.problems).toEqual([]);
  });

  it("explains an incomplete link instead of showing a form", async () => {
    const { page } = browser;
    await page.goto(`${serviceUrl}/reset-password`);
    await expect.poll(() => page.getByRole("status").textContent()).toContain("This link is incomplete.");
    expect(await page.locator("#form").isHidden()).toBe(true);
    expect(browser.problems).toEqual([]);
  });
});
