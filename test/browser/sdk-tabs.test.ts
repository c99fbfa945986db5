/**
 * edge-auth/client in Chromium: two tabs of one origin sharing localStorage. Both ask for a token
 * at the moment it is due: navigator.locks lets one refresh, the other uses the stored new pair, so
 * the service sees exactly one rotation and neither tab is signed out. A sign-out in one tab
 * reaches the other through the storage event. The page and the built client bundle are served on
 * the service's own origin (Playwright answers /__sdk/* itself; everything else reaches the real
 * `wrangler dev`), so no CORS setting is needed. A later refresh in one tab reaches the other too.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs module (scripts/build-sdk.mjs, shared with npm run build:sdk)
import { buildClientBundle } from "../../scripts/build-sdk.mjs";
import { api, openBrowser, serviceUrl } from "./helpers";
import type { OpenBrowser } from "./helpers";

const PAGE = `<!doctype html><meta charset="utf-8"><title>tab</title>
<script type="module">
  import * as sdk from "/__sdk/client.js";
  window.changes = [];
  window.start = async (ip) => {
    const auth = sdk.createClient({
      baseUrl: location.origin,
      storage: sdk.localStorageAdapter(),
      // One address for this test's tabs, so the per-IP rate limiter never couples it to others.
      fetch: (input, init) => {
        const request = new Request(input, init);
        request.headers.set("cf-connecting-ip", ip);
        return fetch(request);
      },
    });
    auth.onChange((session) => window.changes.push(session && session.refreshToken));
    window.auth = auth;
    await auth.ready;
    return auth.session && auth.session.refreshToken;
  };
</script>`;

interface TabWindow {
  auth: import("../../sdk/client").Client;
  changes: (string | null)[];
  start(ip: string): Promise<string | null>;
}
declare const window: TabWindow;
declare const localStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };

let browser: OpenBrowser;
let tabA: Page;
let tabB: Page;
const refreshes: string[] = [];

beforeAll(async () => {
  const bundle = (await buildClientBundle()) as string;
  browser = await openBrowser();
  await browser.context.route(`${serviceUrl}/__sdk/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/__sdk/client.js") return route.fulfill({ status: 200, contentType: "text/javascript", body: bundle });
    return route.fulfill({ status: 200, contentType: "text/html", body: PAGE });
  });
  browser.context.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/v1/auth/refresh") refreshes.push(request.url());
  });
  tabA = browser.page;
  tabB = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.close();
});

describe("two tabs sharing localStorage", () => {
  it("both due at once: exactly one rotation, both end with the same pair; a sign-out reaches the other tab", async () => {
    const guest = (await (await api("/v1/auth/guest", {})).json()) as { accessToken: string; refreshToken: string; sessionId: string };
    const ip = `10.252.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    await tabA.goto(`${serviceUrl}/__sdk/tab.html`);
    await tabB.goto(`${serviceUrl}/__sdk/tab.html`);
    // The stored pair is due: it expires within the default 60 s leeway.
    await tabA.evaluate((tokens) => {
      localStorage.setItem("edge-auth:session", JSON.stringify({ ...tokens, expiresAt: Date.now() + 20_000 }));
    }, { accessToken: guest.accessToken, refreshToken: guest.refreshToken, sessionId: guest.sessionId });
    expect(await tabA.evaluate((address) => window.start(address), ip)).toBe(guest.refreshToken);
    expect(await tabB.evaluate((address) => window.start(address), ip)).toBe(guest.refreshToken);

    const [a, b] = await Promise.all([
      tabA.evaluate(() => window.auth.getAccessToken()),
      tabB.evaluate(() => window.auth.getAccessToken()),
    ]);
    expect(refreshes).toHaveLength(1);
    expect(a).toBe(b);
    expect(a).not.toBe(guest.accessToken);
    const pairOf = (tab: Page) => tab.evaluate(() => [window.auth.session?.refreshToken, JSON.parse(localStorage.getItem("edge-auth:session")!).refreshToken]);
    const [inA, storedA] = await pairOf(tabA);
    const [inB, storedB] = await pairOf(tabB);
    expect(inA).not.toBe(guest.refreshToken);
    expect(new Set([inA, storedA, inB, storedB]).size).toBe(1);
    // Neither tab was signed out (no reuse detection), and the pair works in both.
    expect(await tabA.evaluate(async () => (await window.auth.me()).user.id)).toBe(await tabB.evaluate(async () => (await window.auth.me()).user.id));
    expect(await tabB.evaluate(() => window.changes.includes(null))).toBe(false);

    // A refresh in A reaches B through the storage event, without B asking the service.
    const rotated = await tabA.evaluate(async () => (await window.auth.refresh()).refreshToken);
    await tabB.waitForFunction((token) => window.auth.session?.refreshToken === token, rotated, { timeout: 5000 });
    expect(await tabB.evaluate(() => window.changes.at(-1))).toBe(rotated);
    expect(refreshes).toHaveLength(2);

    // A sign-out in A reaches B.
    expect(await tabA.evaluate(() => window.auth.logout())).toBe(true);
    await tabB.waitForFunction(() => window.auth.session === null, undefined, { timeout: 5000 });
    expect(await tabB.evaluate(() => window.changes.at(-1))).toBeNull();
    expect(browser.problems).toEqual([]);
  });
});
