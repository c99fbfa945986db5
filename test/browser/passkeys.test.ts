/**
 * Passkeys in headless Chromium with a virtual authenticator (Chrome DevTools Protocol: WebAuthn
 * domain; CTAP2, internal transport, resident keys, user verification) against a real
 * `wrangler dev`: registration and discoverable sign-in on the development page /_dev/passkeys,
 * which uses the browser's own WebAuthn JSON helpers. The page is opened on localhost, since a
 * WebAuthn RP ID cannot be an IP address (scripts/browser-test-service.mjs sets
 * WEBAUTHN_RP_ID=localhost and the matching origin).
 */
import type { CDPSession, Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { PASSWORD, api, openBrowser, serviceUrl, verifiedAccount } from "./helpers";
import type { OpenBrowser } from "./helpers";

const pageUrl = `${serviceUrl.replace("127.0.0.1", "localhost")}/_dev/passkeys`;
const opened: OpenBrowser[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

let counter = Math.floor(Math.random() * 60_000);
const freshIp = () => `10.251.${(++counter >> 8) & 255}.${counter & 255}`;

/** A browser on the page with a virtual platform authenticator; every request from a fresh client address. */
async function withAuthenticator(): Promise<{ browser: OpenBrowser; page: Page; cdp: CDPSession; authenticatorId: string }> {
  const browser = await openBrowser();
  opened.push(browser);
  await browser.context.setExtraHTTPHeaders({ "cf-connecting-ip": freshIp() });
  const page = browser.page;
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const response = await page.goto(pageUrl);
  expect(response?.status()).toBe(200);
  return { browser, page, cdp, authenticatorId };
}

/** Clicks a button of the page and returns the outcome it shows. */
async function press(page: Page, id: "guest" | "register" | "login"): Promise<{ kind: string; value: Record<string, unknown> | string }> {
  // Strings, not functions: this project has no DOM types (the code runs in the page).
  await page.evaluate('(() => { const o = document.getElementById("outcome"); o.textContent = ""; delete o.dataset.kind; })()');
  await page.locator(`#${id}`).click();
  await expect.poll(() => page.locator("#outcome").getAttribute("data-kind"), { timeout: 15_000 }).not.toBeNull();
  const kind = (await page.locator("#outcome").getAttribute("data-kind"))!;
  const text = (await page.locator("#outcome").textContent())!;
  return { kind, value: JSON.parse(text) as Record<string, unknown> | string };
}

const problems = (browser: OpenBrowser) => browser.problems.filter((p) => !p.startsWith(`foreign request: ${pageUrl.split("/_dev")[0]}/`));

describe("passkeys in Chromium", () => {
  it("a full account registers a passkey and signs in with it, discoverably", async () => {
    const email = await verifiedAccount("browser-passkey");
    const pair = await (await api("/v1/auth/login", { email, password: PASSWORD })).json() as { accessToken: string; user: { id: string } };
    const { browser, page, cdp, authenticatorId } = await withAuthenticator();
    await page.evaluate(`window.setAccessToken(${JSON.stringify(pair.accessToken)})`);

    const registered = await press(page, "register");
    expect(registered).toMatchObject({ kind: "success", value: { passkeyId: expect.any(String), name: "Passkey" } });
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    expect(credentials[0]!.rpId).toBe("localhost");
    // The user handle the authenticator keeps is random, not the user id or the address.
    const handle = atob(credentials[0]!.userHandle!);
    expect(handle).not.toContain(pair.user.id);
    expect(handle).not.toContain(email);

    await page.evaluate("window.setAccessToken(null)");
    const signedIn = await press(page, "login");
    expect(signedIn).toMatchObject({ kind: "success", value: { userId: pair.user.id, isGuest: false } });
    expect((await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(0);
    expect(problems(browser)).toEqual([]);
  });

  it("a guest's passkey signs back into the same guest from another browser", async () => {
    const first = await withAuthenticator();
    const started = await press(first.page, "guest");
    expect(started).toMatchObject({ kind: "success", value: { isGuest: true } });
    const guestId = (started.value as { userId: string }).userId;
    expect(await press(first.page, "register")).toMatchObject({ kind: "success" });
    const { credentials } = await first.cdp.send("WebAuthn.getCredentials", { authenticatorId: first.authenticatorId });
    expect(credentials).toHaveLength(1);

    // Another browser (another device) holding the same credential, as a synced passkey would.
    const second = await withAuthenticator();
    await second.cdp.send("WebAuthn.addCredential", { authenticatorId: second.authenticatorId, credential: credentials[0]! });
    const back = await press(second.page, "login");
    expect(back).toMatchObject({ kind: "success", value: { userId: guestId, isGuest: true } });
    expect((back.value as { sessionId: string }).sessionId).not.toBe((started.value as { sessionId: string }).sessionId);
    expect(problems(first.browser)).toEqual([]);
    expect(problems(second.browser)).toEqual([]);
  });

  it("a sign-in the authenticator cannot answer fails cleanly", async () => {
    const { page } = await withAuthenticator();
    // No credential for this RP on the authenticator: the browser refuses, and the page says so.
    const outcome = await press(page, "login");
    expect(outcome.kind).toBe("error");
  });
});
