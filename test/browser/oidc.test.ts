/**
 * The web sign-in (API.md §13) once in headless Chromium, against the browser project's real
 * `wrangler dev` and the loopback OpenID Provider (oidc-provider): the person starts at our
 * authorize URL, signs in on the provider's page, and lands on the app's redirect_uri (a page the
 * test provider serves) with our one-time code, which the app exchanges for a TokenPair.
 */
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { api, openBrowser, serviceUrl, uniqueEmail } from "./helpers";
import type { OpenBrowser } from "./helpers";
import "../helpers/oidc-provided";


const { issuer } = inject("oidc");
const appPage = `${issuer}/_test/app`;

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

describe("sign in with an OpenID provider in a browser", () => {
  it("goes from authorize through the provider's login to the app with a one-time code", async () => {
    const { page } = browser;
    const email = uniqueEmail("browser-oidc");
    await page.goto(`${serviceUrl}/v1/auth/oauth/loopback/authorize?redirect_uri=${encodeURIComponent(appPage)}&state=browser-1`);
    // The provider's own login page.
    expect(page.url().startsWith(`${issuer}/interaction/`)).toBe(true);
    await page.getByLabel("Subject").fill(`browser-${crypto.randomUUID()}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("verified").check();
    await page.getByRole("button", { name: "Continue" }).click();

    await page.waitForURL((url) => url.href.startsWith(appPage));
    const landed = new URL(page.url());
    expect(landed.searchParams.get("state")).toBe("browser-1");
    const code = landed.searchParams.get("code");
    expect(code).toMatch(/^[\w-]{43}$/);
    // Our callback was on the way, and no URL the browser saw carried a token of ours.
    expect(browser.requests.some((r) => r.startsWith(`GET ${serviceUrl}/v1/auth/oauth/loopback/callback?`))).toBe(true);

    const exchanged = await api("/v1/auth/oauth/token", { code });
    expect(exchanged.status).toBe(200);
    const pair = (await exchanged.json()) as { accessToken: string; refreshToken: string; user: { email: string; emailVerified: boolean } };
    expect(pair.user).toMatchObject({ email, emailVerified: true });
    for (const request of browser.requests) {
      expect(request).not.toContain(pair.accessToken);
      expect(request).not.toContain(pair.refreshToken);
    }
    // Single use.
    expect((await api("/v1/auth/oauth/token", { code })).status).toBe(401);
    // Only our service and the provider were contacted.
    expect(browser.problems.filter((p) => !p.startsWith(`foreign request: ${issuer}/`))).toEqual([]);
  });
});
