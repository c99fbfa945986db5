/**
 * /delete-account with Turnstile (API.md §9, §17) in headless Chromium. This file starts its own
 * Worker with Turnstile on (wrangler's unstable_startWorker, fresh D1 state with the migrations
 * applied) against the siteverify stand-in, whose stand-in widget script
 * (scripts/turnstile-widget-stand-in.mjs) is the page's TURNSTILE_SCRIPT_URL; the project's shared
 * `wrangler dev` (Turnstile off) shows the page as it is without Turnstile. Proves: the page loads
 * the widget under a CSP that allows its origin for scripts and frames; the form sends the widget's
 * token, siteverify checks it, the deletion link is mailed and deletes; without the widget's token
 * the request is refused; with Turnstile off there is no widget and the CSP is the strict one.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";
// @ts-expect-error: a plain .mjs module (the dev signing key, shared with scripts/dev.mjs)
import { generateDevKey } from "../../scripts/dev-key.mjs";
// @ts-expect-error: a plain .mjs module (the siteverify and widget stand-in)
import { startSiteverify } from "../../scripts/siteverify-server.mjs";
import { PASSWORD, openBrowser, serviceUrl, uniqueEmail } from "./helpers";
import type { OpenBrowser } from "./helpers";

interface Siteverify {
  base: string;
  url: string;
  scriptUrl: string;
  secret: string;
  siteKey: string;
  close(): Promise<void>;
}
interface Received {
  secretOk: boolean;
  answered: number | null;
}

const text = (value: string) => ({ type: "plain_text" as const, value });
const quiet = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
/** The pages' CSP without Turnstile (src/pages/html.ts), `N` standing for the response's nonce. */
const STRICT_CSP =
  "default-src 'none'; script-src 'nonce-N'; style-src 'nonce-N'; img-src 'none'; connect-src 'self'; form-action 'none'; " +
  "frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'";
const withoutNonce = (csp: string | undefined) => (csp ?? "").replace(/'nonce-[^']+'/g, "'nonce-N'");

let siteverify: Siteverify;
let worker: Awaited<ReturnType<typeof unstable_startWorker>> | undefined;
let base: string;
let state: string;

beforeAll(async () => {
  siteverify = (await startSiteverify()) as Siteverify;
  state = mkdtempSync(join(tmpdir(), "edge-auth-browser-turnstile-"));
  const persist = join(state, "wrangler");
  const migrated = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { stdio: "pipe", env: quiet });
  if (migrated.status !== 0) throw new Error(`D1 migrations failed:\n${migrated.stdout}\n${migrated.stderr}`);
  worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      ENVIRONMENT: text("development"),
      JWT_SIGNING_KEY: text(JSON.stringify(await generateDevKey("dev-browser-turnstile"))),
      PUBLIC_URL: text(""),
      TURNSTILE_SECRET_KEY: text(siteverify.secret),
      TURNSTILE_VERIFY_URL: text(siteverify.url),
      TURNSTILE_SITE_KEY: text(siteverify.siteKey),
      TURNSTILE_SCRIPT_URL: text(siteverify.scriptUrl),
    },
    dev: { inspector: false, server: { hostname: "127.0.0.1", port: 0 }, persist, watch: false, registry: join(state, "registry") },
  });
  await worker.ready;
  base = (await worker.url).origin;
});

afterAll(async () => {
  await worker?.dispose().catch(() => {});
  await siteverify?.close();
  if (state) rmSync(state, { recursive: true, force: true });
});

let browser: OpenBrowser;
beforeEach(async () => {
  browser = await openBrowser();
});
afterEach(async () => {
  await browser.close();
});

let ip = Math.floor(Math.random() * 60_000);
async function post(path: string, body: unknown, turnstileToken?: string): Promise<Response> {
  ip += 1;
  const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": `10.252.${(ip >> 8) & 255}.${ip & 255}` };
  if (turnstileToken) headers["cf-turnstile-response"] = turnstileToken;
  return fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

async function issueToken(): Promise<string> {
  const response = await fetch(`${siteverify.base}/__test/tokens`, { method: "POST", body: "{}" });
  return ((await response.json()) as { token: string }).token;
}

async function received(token: string): Promise<Received[]> {
  const response = await fetch(`${siteverify.base}/__test/received?token=${encodeURIComponent(token)}`);
  return ((await response.json()) as { received: Received[] }).received;
}

async function widgetState(): Promise<{ loads: number; tokens: string[] }> {
  return (await (await fetch(`${siteverify.base}/__test/widget`)).json()) as { loads: number; tokens: string[] };
}

/** The deletion link mailed to `to` by the Turnstile Worker (its dev outbox). */
async function deletionLink(to: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${base}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await response.json()) as { messages: { text: string }[] };
    const link = messages.map((m) => m.text.match(/https?:\/\/\S+\/delete-account\?\S+/)?.[0]).find(Boolean);
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no deletion link mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The browser's problems, less requests to this file's own Worker and to the widget's origin (the
 * helper counts as foreign anything outside the project's shared service).
 */
const problemsBeyondWidget = () =>
  browser.problems.filter((p) => !p.startsWith(`foreign request: ${siteverify.base}/`) && !p.startsWith(`foreign request: ${base}/`));

describe("/delete-account with Turnstile on", () => {
  it("loads the widget, sends its token, mails the link that deletes; without the token it is refused", async () => {
    const email = uniqueEmail("browser-turnstile-delete");
    expect((await post("/v1/auth/register", { email, password: PASSWORD }, await issueToken())).status).toBe(201);
    // The request the page makes, without the widget's token: refused before anything happens.
    const bare = await post("/v1/auth/request-deletion", { email });
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { error: string }).error).toBe("captcha_required");

    const { page } = browser;
    const loadsBefore = (await widgetState()).loads;
    const opened = await page.goto(`${base}/delete-account`);
    expect(opened?.status()).toBe(200);
    const origin = new URL(siteverify.base).origin;
    const csp = withoutNonce(opened?.headers()["content-security-policy"]);
    expect(csp).toBe(
      `default-src 'none'; script-src 'nonce-N' ${origin}; style-src 'nonce-N'; img-src 'none'; connect-src 'self'; frame-src ${origin}; ` +
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    // The widget: its script (explicit rendering) loaded once, its frame drawn in the form.
    await expect.poll(() => page.locator("#turnstile-widget iframe").count()).toBe(1);
    expect(browser.requests).toContain(`GET ${siteverify.scriptUrl}?render=explicit&onload=edgeAuthTurnstileLoaded`);
    expect(browser.requests).toContain(`GET ${siteverify.base}/turnstile/v0/widget`);
    expect((await widgetState()).loads).toBe(loadsBefore + 1);

    await page.getByLabel("Email").fill(email);
    const sent = page.waitForRequest((r) => r.method() === "POST" && r.url() === `${base}/v1/auth/request-deletion`);
    await page.getByRole("button", { name: "Email me a deletion link" }).click();
    const body = JSON.parse((await sent).postData() ?? "{}") as { email: string; turnstileToken?: string };
    await expect.poll(() => page.getByRole("status").textContent()).toContain("a link to delete it is on its way");
    // The token came from the widget, and siteverify checked it once with the service's secret.
    expect(body.email).toBe(email);
    expect((await widgetState()).tokens).toContain(body.turnstileToken);
    expect(await received(body.turnstileToken!)).toEqual([expect.objectContaining({ secretOk: true, answered: 200 })]);
    // Spent: the same token again is refused.
    expect((await post("/v1/auth/request-deletion", { email }, body.turnstileToken)).status).toBe(403);

    const link = await deletionLink(email);
    expect(link.startsWith(`${base}/delete-account?token=`)).toBe(true);
    // Confirming a mailed link needs no widget: the strict page.
    const confirm = await page.goto(link);
    expect(withoutNonce(confirm?.headers()["content-security-policy"])).toBe(STRICT_CSP);
    expect(await page.locator("#turnstile-widget").count()).toBe(0);
    await page.getByRole("button", { name: "Delete my account" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Your account was deleted.");
    expect((await post("/v1/auth/login", { email, password: PASSWORD })).status).toBe(401);
    expect(problemsBeyondWidget()).toEqual([]);
  });

  it("without the widget's token the page sends nothing and says why", async () => {
    const { page } = browser;
    // The widget's script cannot load (blocked, offline): no token, so no request.
    await page.route(`${siteverify.base}/**`, (route) => route.abort());
    await page.goto(`${base}/delete-account`);
    await page.getByLabel("Email").fill(uniqueEmail("browser-turnstile-none"));
    await page.getByRole("button", { name: "Email me a deletion link" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Wait until the check above says you passed");
    expect(browser.requests.filter((r) => r.startsWith("POST"))).toEqual([]);
  });
});

describe("/delete-account with Turnstile off", () => {
  it("has no widget and the strict CSP", async () => {
    const { page } = browser;
    const opened = await page.goto(`${serviceUrl}/delete-account`);
    expect(opened?.status()).toBe(200);
    expect(withoutNonce(opened?.headers()["content-security-policy"])).toBe(STRICT_CSP);
    const html = await opened!.text();
    expect(html.match(/<script[^>]*>/g)).toHaveLength(1);
    expect(html).not.toContain(`id="turnstile-widget"`);
    expect(html).not.toContain("api.js");
    await expect.poll(() => page.getByLabel("Email").isVisible()).toBe(true);
    expect(await page.locator("iframe").count()).toBe(0);
    expect(browser.problems).toEqual([]);
  });
});
