/**
 * The deletion page's Turnstile settings (TURNSTILE_SITE_KEY, TURNSTILE_SCRIPT_URL;
 * src/turnstile/settings.ts) and what /delete-account renders from them (src/pages/turnstile-widget.ts):
 * the widget and its CSP only on the email form while request-deletion is guarded, the plain
 * "cannot be used here" without a site key, the strict page otherwise; the site key escaped.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { loadConfig } from "../../src/config";
import { BASE, configReasons, env, productionEnv } from "../helpers";

const SECRET = "0x4AAAAAAABkMYinukE8nzYS_test_secret";
const SITE_KEY = "0x4AAAAAAABkMYinukE8nz_site";
const CLOUDFLARE_SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js";
const dev = (vars: Record<string, string>) => ({ JWT_SIGNING_KEY: env.JWT_SIGNING_KEY, ENVIRONMENT: "development", ...vars });
const STRICT_CSP =
  "default-src 'none'; script-src 'nonce-N'; style-src 'nonce-N'; img-src 'none'; connect-src 'self'; form-action 'none'; " +
  "frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'";

async function page(path: string, overrides: Record<string, string> = {}): Promise<{ csp: string; text: string; nonce: string }> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`), { ...env, ...overrides } as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  expect(response.status).toBe(200);
  const raw = response.headers.get("content-security-policy")!;
  return { csp: raw.replace(/'nonce-[^']+'/g, "'nonce-N'"), text: await response.text(), nonce: /'nonce-([^']+)'/.exec(raw)![1]! };
}

describe("TURNSTILE_SITE_KEY and TURNSTILE_SCRIPT_URL", () => {
  it("default to no site key and Cloudflare's script", () => {
    expect(loadConfig(dev({ TURNSTILE_SECRET_KEY: SECRET })).turnstile).toMatchObject({ siteKey: null, scriptUrl: CLOUDFLARE_SCRIPT });
    expect(loadConfig(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: "", TURNSTILE_SCRIPT_URL: "" })).turnstile).toMatchObject({
      siteKey: null,
      scriptUrl: CLOUDFLARE_SCRIPT,
    });
    expect(loadConfig(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: SITE_KEY })).turnstile!.siteKey).toBe(SITE_KEY);
  });

  it("refuse a malformed site key, and a script URL with a query, credentials or another scheme", () => {
    expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: `x"><script>` })).join()).toMatch(/TURNSTILE_SITE_KEY/);
    for (const url of ["not a url", "ftp://example.com/api.js", "http://127.0.0.1:9/api.js?render=explicit", "https://u:p@example.com/api.js"]) {
      expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SCRIPT_URL: url })).join(), url).toMatch(/TURNSTILE_SCRIPT_URL/);
    }
    expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SCRIPT_URL: "http://127.0.0.1:9/turnstile/v0/api.js" }))).toEqual([]);
  });

  it("in production: only Cloudflare's script, never a test site key", () => {
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: SITE_KEY }))).toEqual([]);
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SCRIPT_URL: CLOUDFLARE_SCRIPT }))).toEqual([]);
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SCRIPT_URL: "https://cdn.example.com/api.js" })).join()).toMatch(
      /TURNSTILE_SCRIPT_URL: production loads only Cloudflare's/,
    );
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: "1x00000000000000000000AA" })).join()).toMatch(
      /TURNSTILE_SITE_KEY: Cloudflare's test site key/,
    );
    expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: "1x00000000000000000000AA" }))).toEqual([]);
  });
});

describe("/delete-account with Turnstile", () => {
  const on = { TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: SITE_KEY };

  it("shows the widget on the email form, loads Cloudflare's script with the nonce, and allows only its origin", async () => {
    const { csp, text, nonce } = await page("/delete-account", on);
    expect(csp).toBe(
      "default-src 'none'; script-src 'nonce-N' https://challenges.cloudflare.com; style-src 'nonce-N'; img-src 'none'; connect-src 'self'; " +
        "frame-src https://challenges.cloudflare.com; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(text).toContain(`<div id="turnstile-widget" class="turnstile" data-sitekey="${SITE_KEY}"></div>`);
    expect(text.match(/<script[^>]*>/g)).toEqual([
      `<script nonce="${nonce}">`,
      `<script nonce="${nonce}" src="${CLOUDFLARE_SCRIPT}?render=explicit&amp;onload=edgeAuthTurnstileLoaded" async defer>`,
    ]);
  });

  it("is the strict page on a mailed link, with Turnstile off, and when request-deletion is not guarded", async () => {
    for (const [path, vars] of [
      ["/delete-account?token=" + "A".repeat(43), on],
      ["/delete-account", {}],
      ["/delete-account", { ...on, TURNSTILE_ROUTES: "guest,register" }],
      ["/confirm-email-change", on],
    ] as const) {
      const { csp, text } = await page(path, vars);
      expect(csp, path).toBe(STRICT_CSP);
      expect(text, path).not.toContain(`id="turnstile-widget"`);
      expect(text.match(/<script[^>]*>/g), path).toHaveLength(1);
    }
  });

  it("without a site key says plainly that the email form cannot be used, and offers none", async () => {
    const { csp, text } = await page("/delete-account", { TURNSTILE_SECRET_KEY: SECRET, PLATFORM_NAME: "Acme <b>" });
    expect(csp).toBe(STRICT_CSP);
    expect(text).toContain("Asking for a deletion link by email is not available on this page right now");
    expect(text).toContain("contact Acme &lt;b&gt;'s support");
    expect(text).not.toContain(`id="request"`);
    expect(text).not.toContain(`id="turnstile-widget"`);
  });
});
