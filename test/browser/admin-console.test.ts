/**
 * The admin console (API.md §18) in headless Chromium against a real `wrangler dev`: sign in with
 * the key (kept in the tab's sessionStorage only: in no URL, cookie or localStorage, and gone in a
 * new tab and after "Sign out"), search, a user's page (sessions, identities, passkeys, second
 * factor, latest activity), and each action ("Disable", "Enable", "Revoke sessions", "Delete"
 * behind "Confirm") with its effect checked over the admin and auth APIs; every request on the
 * service's origin, no CSP violation, no sideways scroll at 390 px.
 */
import { TOTP } from "otpauth";
import { afterEach, describe, expect, it } from "vitest";
import { PASSWORD, api, serviceUrl } from "./helpers";
import {
  accountWithSession, adminApi, adminKey, adminUser, loginAs, openConsole, scrollsSideways, searchFor, signIn, violations,
} from "./admin-console-helpers";
import type { OpenConsole } from "./admin-console-helpers";

const opened: OpenConsole[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

async function open(viewport?: { width: number; height: number }) {
  const browser = await openConsole(viewport);
  opened.push(browser);
  return browser;
}

/** Nothing went wrong in the page: no console error, page error, foreign request or CSP violation. */
async function expectClean(browser: OpenConsole) {
  expect(browser.problems).toEqual([]);
  expect(await violations(browser.page)).toEqual([]);
  for (const request of browser.requests) expect(request.split(" ")[1]!.startsWith(`${serviceUrl}/`)).toBe(true);
}

/** The key appears in no URL, no cookie, no localStorage; only in this tab's sessionStorage. */
async function expectKeyOnlyInSessionStorage(browser: OpenConsole) {
  for (const request of browser.requests) {
    expect(request).not.toContain(adminKey);
    expect(request).not.toContain(encodeURIComponent(adminKey));
  }
  expect(browser.page.url()).not.toContain(adminKey);
  expect(JSON.stringify(await browser.context.cookies())).not.toContain(adminKey);
  expect(await browser.page.evaluate("JSON.stringify(Object.entries(localStorage))")).toBe("[]");
  expect(await browser.page.evaluate("Object.values(sessionStorage)")).toEqual([adminKey]);
}

describe("the admin console", () => {
  it("signs in with the key, kept in this tab's sessionStorage only, searches and shows a user", async () => {
    const agent = "Wardrobe/3.4 (iPhone; iOS 18.1)";
    const account = await accountWithSession(`console-show-${crypto.randomUUID().slice(0, 6)}`, agent);
    const browser = await open();
    const { page } = browser;
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await signIn(page);
    await expectKeyOnlyInSessionStorage(browser);
    // The page sent the key in the Authorization header of its admin calls, and only there.
    const adminCalls = browser.requests.filter((r) => r.includes("/v1/admin/"));
    expect(adminCalls.length).toBeGreaterThan(0);

    const row = await searchFor(page, account.email.slice(0, 20).toUpperCase(), account.email);
    await expect.poll(() => page.getByRole("list", { name: "Users" }).getByRole("link").count()).toBe(1);
    await row.click();
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe(account.email);
    expect(page.url()).toBe(`${serviceUrl}/admin#/users/${account.userId}`);
    for (const title of ["Profile", "Second factor", "Sessions", "Identities", "Passkeys", "Latest activity"]) {
      await expect.poll(() => page.getByRole("heading", { name: title }).count()).toBe(1);
    }
    const sessions = page.getByRole("region", { name: "Sessions" });
    expect(await sessions.textContent()).toContain(agent);
    const activity = page.getByRole("region", { name: "Latest activity" });
    expect(await activity.textContent()).toContain("Signed in (password)");
    expect(await activity.textContent()).toContain("Email verified");
    expect(await page.getByRole("region", { name: "Passkeys" }).textContent()).toContain("No passkeys.");
    for (const name of ["Disable", "Revoke sessions", "Reset second factor", "Delete"]) {
      expect(await page.getByRole("button", { name, exact: true }).count()).toBe(1);
    }

    // A reload keeps the tab's key; a new tab does not have it.
    await page.reload();
    await page.getByRole("heading", { name: "Latest activity" }).waitFor();
    const other = await browser.context.newPage();
    await other.goto(`${serviceUrl}/admin`);
    await other.getByLabel("Admin key").waitFor();
    expect(await other.evaluate("sessionStorage.length")).toBe(0);
    await other.close();

    await expectKeyOnlyInSessionStorage(browser);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin key").waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await expectClean(browser);
  });

  it("Disable, Enable and Revoke sessions do what they say, as the API sees it", async () => {
    const account = await accountWithSession(`console-act-${crypto.randomUUID().slice(0, 6)}`);
    const second = (await (await loginAs(account.email)).json()) as { refreshToken: string };
    expect((await adminUser(account.userId)).user.sessionCount).toBe(2);
    const browser = await open();
    const { page } = browser;
    await signIn(page);
    await (await searchFor(page, account.email, account.email)).click();

    await page.getByRole("button", { name: "Revoke sessions", exact: true }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Every session");
    expect((await adminUser(account.userId)).user.sessionCount).toBe(0);
    expect((await api("/v1/auth/refresh", { refreshToken: second.refreshToken })).status).toBe(401);
    expect(await page.getByRole("region", { name: "Sessions" }).textContent()).toContain("No live sessions.");

    const fresh = (await (await loginAs(account.email)).json()) as { refreshToken: string };
    await page.reload();
    await page.getByRole("button", { name: "Disable", exact: true }).click();
    await page.getByRole("button", { name: "Enable", exact: true }).waitFor();
    const disabled = await adminUser(account.userId);
    expect(disabled.user).toMatchObject({ disabled: true, sessionCount: 0 });
    expect((await api("/v1/auth/refresh", { refreshToken: fresh.refreshToken })).status).toBe(401);
    const refused = await loginAs(account.email);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe("account_disabled");
    expect(await page.getByRole("region", { name: "Latest activity" }).textContent()).toContain("Account disabled");

    await page.getByRole("button", { name: "Enable", exact: true }).click();
    await page.getByRole("button", { name: "Disable", exact: true }).waitFor();
    expect((await adminUser(account.userId)).user.disabled).toBe(false);
    expect((await loginAs(account.email)).status).toBe(200);
    await expectClean(browser);
  });

  it("Delete asks in a dialog; Cancel keeps the user, Confirm deletes it", async () => {
    const account = await accountWithSession(`console-del-${crypto.randomUUID().slice(0, 6)}`);
    const browser = await open();
    const { page } = browser;
    await signIn(page);
    await (await searchFor(page, account.email, account.email)).click();

    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Delete this user?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain(account.email);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await adminApi(`/users/${account.userId}`)).status).toBe(200);

    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await dialog.getByRole("button", { name: "Confirm", exact: true }).click();
    await page.getByLabel("Search users").waitFor();
    await expect.poll(() => page.getByRole("status").textContent()).toBe(`${account.email} was deleted.`);
    expect((await adminApi(`/users/${account.userId}`)).status).toBe(404);
    expect((await loginAs(account.email)).status).toBe(401);
    await page.getByLabel("Search users").fill(account.email);
    await page.getByLabel("Search users").press("Enter");
    await page.getByText(`No user's email or username starts with “${account.email}”.`).waitFor();
    expect(await page.getByRole("link", { name: account.email }).count()).toBe(0);
    await expectClean(browser);
  });

  it("Reset second factor asks in a dialog, then removes the factor: the next sign-in needs none", async () => {
    const account = await accountWithSession(`console-mfa-${crypto.randomUUID().slice(0, 6)}`);
    const authed = (path: string, body: unknown) =>
      fetch(`${serviceUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${account.accessToken}`, "cf-connecting-ip": `10.253.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` },
        body: JSON.stringify(body),
      });
    const enrolled = await authed("/v1/auth/mfa/totp", { password: PASSWORD });
    expect(enrolled.status).toBe(200);
    const { factorId, secret } = (await enrolled.json()) as { factorId: string; secret: string };
    const code = new TOTP({ secret, digits: 6, period: 30, algorithm: "SHA1" }).generate();
    expect((await authed("/v1/auth/mfa/totp/activate", { factorId, code })).status).toBe(200);
    expect((await adminUser(account.userId)).user.mfaEnabled).toBe(true);
    expect((await loginAs(account.email)).status).toBe(403);

    const browser = await open();
    const { page } = browser;
    await signIn(page);
    await (await searchFor(page, account.email, account.email)).click();
    expect(await page.getByRole("region", { name: "Second factor" }).textContent()).toContain("On");
    const reset = page.getByRole("button", { name: "Reset second factor", exact: true });
    await reset.click();
    const dialog = page.getByRole("dialog", { name: "Reset the second factor?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect((await adminUser(account.userId)).user.mfaEnabled).toBe(true);
    await reset.click();
    await dialog.getByRole("button", { name: "Confirm", exact: true }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe(`The second factor of ${account.email} is removed.`);
    expect((await adminUser(account.userId)).user.mfaEnabled).toBe(false);
    expect((await loginAs(account.email)).status).toBe(200);
    expect(await page.getByRole("region", { name: "Second factor" }).textContent()).toContain("Off");
    expect(await page.getByRole("button", { name: "Reset second factor", exact: true }).isDisabled()).toBe(true);
    await expectClean(browser);
  });

  it("fits a 390 px phone: no view scrolls sideways, long values wrap", async () => {
    const agent = `Mozilla/5.0 ${"VeryLongUnbrokenUserAgentToken".repeat(8)}`;
    const account = await accountWithSession(`console-phone-${crypto.randomUUID().slice(0, 6)}`, agent);
    const browser = await open({ width: 390, height: 844 });
    const { page } = browser;
    expect(await scrollsSideways(page)).toBe(false);
    await signIn(page);
    expect(await scrollsSideways(page)).toBe(false);
    await (await searchFor(page, account.email, account.email)).click();
    await page.getByRole("heading", { name: "Latest activity" }).waitFor();
    expect(await page.getByRole("region", { name: "Sessions" }).textContent()).toContain(agent);
    expect(await scrollsSideways(page)).toBe(false);
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByRole("dialog").waitFor();
    expect(await scrollsSideways(page)).toBe(false);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByRole("heading", { name: "Events" }).waitFor();
    expect(await scrollsSideways(page)).toBe(false);
    await expectClean(browser);
  });
});
