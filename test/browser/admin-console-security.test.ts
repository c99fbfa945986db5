/**
 * The admin console's defences (API.md §18, §6, §10) in headless Chromium against a real
 * `wrangler dev`: values are shown, never run (an `<img src=x onerror=…>` as a passkey name, a
 * session's and an activity event's user agent, shows as text, builds no element, loads nothing
 * and runs nothing; usernames cannot hold it, §2); no CSP violation; framing refused (CSP
 * frame-ancestors and X-Frame-Options, in headers and in a real frame); the admin bucket's rate
 * limit and a wrong key's lockout apply to the page's own calls, and the page says so.
 */
import { afterEach, describe, expect, it } from "vitest";
import { attest, softCredential } from "../helpers/webauthn";
import { serviceUrl } from "./helpers";
import {
  accountWithSession, adminApi, adminKey, adminUser, consoleUrl, freshIp, openConsole, searchFor, signIn, violations,
} from "./admin-console-helpers";
import type { Json, OpenConsole } from "./admin-console-helpers";

const opened: OpenConsole[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

async function open() {
  const browser = await openConsole();
  opened.push(browser);
  return browser;
}

const PAYLOAD = "<img src=x onerror=window.__xss=1>";

/** Registers a passkey named `name` for the account (a software authenticator; RP ID localhost). */
async function addPasskey(accessToken: string, name: string): Promise<void> {
  const call = (path: string, body: unknown) =>
    fetch(`${serviceUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}`, "cf-connecting-ip": freshIp() },
      body: JSON.stringify(body),
    });
  const started = (await (await call("/v1/auth/passkeys/register/options", {})).json()) as Json;
  const credential = await softCredential("ES256");
  const response = await attest(credential, {
    challenge: started.options.challenge,
    userHandle: started.options.user.id,
    origin: serviceUrl.replace("127.0.0.1", "localhost"),
    rpId: "localhost",
  });
  const registered = await call("/v1/auth/passkeys/register", { challengeId: started.challengeId, response, name });
  expect(registered.status).toBe(201);
}

describe("the admin console's defences", () => {
  it("shows markup in a passkey name and a user agent as text: no element, no request, no script", async () => {
    const account = await accountWithSession(`console-xss-${crypto.randomUUID().slice(0, 6)}`, PAYLOAD);
    await addPasskey(account.accessToken, PAYLOAD);
    const detail = await adminUser(account.userId);
    expect(detail.passkeys[0].name).toBe(PAYLOAD);
    expect(detail.sessions[0].userAgent).toBe(PAYLOAD);
    expect(detail.activity.some((e: Json) => e.userAgent === PAYLOAD)).toBe(true);
    // The service refuses the payload as a username (API.md §2), so it cannot reach the page there.
    const renamed = await fetch(`${serviceUrl}/v1/auth/me`, {
      method: "PATCH",
      headers: { "content-type": "application/json", authorization: `Bearer ${account.accessToken}`, "cf-connecting-ip": freshIp() },
      body: JSON.stringify({ username: PAYLOAD }),
    });
    expect(renamed.status).toBe(400);

    const browser = await open();
    const { page } = browser;
    await signIn(page);
    await (await searchFor(page, account.email, account.email)).click();
    await page.getByRole("heading", { name: "Latest activity" }).waitFor();
    expect(await page.getByRole("region", { name: "Passkeys" }).textContent()).toContain(PAYLOAD);
    expect(await page.getByRole("region", { name: "Sessions" }).textContent()).toContain(PAYLOAD);
    expect(await page.getByRole("region", { name: "Latest activity" }).textContent()).toContain(PAYLOAD);
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.evaluate("window.__xss")).toBeUndefined();
    expect(browser.requests.filter((r) => /\/x(\?|$)/.test(r))).toEqual([]);
    expect(browser.problems).toEqual([]);
    expect(await violations(page)).toEqual([]);
  });

  it("answers with a nonce CSP that allows only its own script, style and origin, and refuses framing", async () => {
    const response = await fetch(consoleUrl);
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`style-src 'nonce-${nonce}'`);
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    const page = await response.text();
    expect(page).toContain(`<script src="/admin/console.js" nonce="${nonce}" defer></script>`);
    expect(page).toContain(`<link rel="stylesheet" href="/admin/console.css" nonce="${nonce}">`);
    expect(page.match(/<script/g)).toHaveLength(1);
    // A fresh nonce on every answer.
    expect((await fetch(consoleUrl)).headers.get("content-security-policy")).not.toContain(nonce);

    // A page of another origin that frames the console gets nothing of it.
    const browser = await open();
    const { page: framer } = browser;
    await framer.goto("about:blank");
    await framer.setContent(`<iframe id="f" src="${consoleUrl}" width="800" height="600"></iframe>`);
    const frame = () => framer.frames().find((f) => f !== framer.mainFrame());
    // Chromium puts its error page in place of a frame its ancestors may not hold.
    await expect.poll(() => frame()?.url(), { timeout: 10_000 }).toBe("chrome-error://chromewebdata/");
    expect(await frame()!.locator("#admin-key").count()).toBe(0);
  });

  it("the page's calls spend the admin bucket (60 a minute per address), and the page shows its 429", async () => {
    const browser = await open();
    const { page, ip } = browser;
    const limits: { status: number; remaining: string | null; limit: string | null }[] = [];
    page.on("response", (response) => {
      if (response.url().includes("/v1/admin/")) {
        limits.push({ status: response.status(), remaining: response.headers()["ratelimit-remaining"] ?? null, limit: response.headers()["ratelimit-limit"] ?? null });
      }
    });
    await signIn(page);
    await expect.poll(() => limits.length).toBeGreaterThanOrEqual(2);
    expect(limits.every((l) => l.limit === "60")).toBe(true);
    const remaining = limits.map((l) => Number(l.remaining));
    expect(remaining[1]).toBe(remaining[0]! - 1);

    // Spend the rest of this address's admin bucket from outside the page.
    let status = 200;
    for (let i = 0; i < 70 && status !== 429; i++) status = (await adminApi("/users?limit=1", { ip })).status;
    expect(status).toBe(429);
    const before = limits.length;
    await page.getByLabel("Search users").fill("anyone");
    await page.getByLabel("Search users").press("Enter");
    await expect.poll(() => page.getByRole("status").textContent()).toMatch(/^Too many requests\. Try again in \d+ seconds?\.$/);
    expect(limits.slice(before).map((l) => l.status)).toContain(429);
    // A 429 is no wrong key: the tab keeps it, and another address is served at once.
    expect(await page.evaluate("Object.values(sessionStorage)")).toEqual([adminKey]);
    expect((await adminApi("/users?limit=1")).status).toBe(200);
    expect(await violations(page)).toEqual([]);
  });

  it("a wrong key typed into the page is refused, never kept, and locks the address out after five", async () => {
    const browser = await open();
    const { page, ip } = browser;
    const statuses: number[] = [];
    page.on("response", (response) => {
      if (response.url().includes("/v1/admin/")) statuses.push(response.status());
    });
    const status = page.getByRole("status");
    for (let i = 1; i <= 5; i++) {
      await page.getByLabel("Admin key").fill(`wrong-key-${i}-${"x".repeat(32)}`);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await expect.poll(() => statuses.length).toBe(i);
      await expect.poll(() => status.textContent()).toBe("That admin key was not accepted.");
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    await page.getByLabel("Admin key").fill(`wrong-key-6-${"x".repeat(32)}`);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect.poll(() => statuses.length).toBe(6);
    expect(statuses[5]).toBe(429);
    await expect.poll(() => status.textContent()).toMatch(/^Too many requests\. Try again in \d+ seconds?\.$/);
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    expect(await page.evaluate("localStorage.length")).toBe(0);
    // The wrong keys were failed logins of the address: its password logins are held too.
    const login = await fetch(`${serviceUrl}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": ip },
      body: JSON.stringify({ email: "nobody@example.com", password: "violet-harbor-lantern-42" }),
    });
    expect(login.status).toBe(429);
    // No wrong key was sent anywhere but the Authorization header.
    for (const request of browser.requests) expect(request).not.toContain("wrong-key");
    expect(await violations(page)).toEqual([]);
  });
});
