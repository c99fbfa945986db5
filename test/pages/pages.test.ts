/**
 * The service's own pages (src/pages/index.ts, src/pages-*.ts) as HTTP sees them: headers that
 * keep the mailed token private, inline code allowed only by a fresh CSP nonce, nothing loaded
 * from outside, accessible markup, and a GET that changes nothing. test/browser/ runs them in
 * Chromium.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import app from "../../src";
import { BASE, PASSWORD, call, env, expectError, mailedToken, uniqueEmail } from "../helpers";

const PAGES = ["/reset-password", "/verify-email"] as const;

function cspOf(response: Response): Map<string, string> {
  const policy = response.headers.get("Content-Security-Policy") ?? "";
  return new Map(policy.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(" ")]));
}

describe.each(PAGES)("GET %s", (path) => {
  it("is HTML that no one caches, frames or learns the link from", async () => {
    const response = await call(`${path}?token=abc&email=a%40example.com`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html; charset=UTF-8/i);
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    const csp = cspOf(response);
    expect(csp.get("default-src")).toBe("'none'");
    expect(csp.get("connect-src")).toBe("'self'");
    expect(csp.get("form-action")).toBe("'none'");
    expect(csp.get("frame-ancestors")).toBe("'none'");
    expect(csp.get("base-uri")).toBe("'none'");
    expect(response.headers.get("Content-Security-Policy")).not.toContain("unsafe");
  });

  it("runs inline script and style only under this response's nonce", async () => {
    const [first, second] = [await call(path), await call(path)];
    const nonces = [];
    for (const response of [first, second]) {
      const csp = cspOf(response);
      // 128 random bits in base64: hono/secure-headers' NONCE.
      const nonce = csp.get("script-src")!.match(/^'nonce-([A-Za-z0-9+/]{22}==)'$/)![1]!;
      expect(csp.get("style-src")).toBe(`'nonce-${nonce}'`);
      const html = await response.text();
      const tags = [...html.matchAll(/<(script|style)\b([^>]*)>/g)];
      expect(tags.map((t) => t[1]).sort()).toEqual(["script", "style"]);
      for (const tag of tags) expect(tag[2]).toBe(` nonce="${nonce}"`);
      expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers, which a nonce cannot cover
      nonces.push(nonce);
    }
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  it("loads nothing from anywhere and never echoes the address bar", async () => {
    const html = await (await call(`${path}?token=SECRET-TOKEN-VALUE&email=%3Cscript%3Ealert(1)%3C%2Fscript%3E`)).text();
    expect(html).not.toMatch(/\b(?:src|href|action)=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toContain("SECRET-TOKEN-VALUE");
    expect(html).not.toContain("alert(1)");
    expect(html).toContain("history.replaceState(null, \"\", location.pathname)");
  });

  it("is accessible markup: language, title, labelled fields, a live region for outcomes", async () => {
    const html = await (await call(path)).text();
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toMatch(/<title>[^<]+<\/title>/);
    expect(html).toContain('<meta name="viewport"');
    expect(html).toContain('<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>');
    const inputs = [...html.matchAll(/<input id="([^"]+)"/g)].map((m) => m[1]);
    for (const id of inputs) expect(html).toContain(`<label for="${id}">`);
    expect(html).toMatch(/<h1>[^<]+<\/h1>/);
    expect(html).toContain("<noscript>");
  });
});

describe("GET /reset-password", () => {
  it("labels every field and keeps passwords out of any submission", async () => {
    const html = await (await call("/reset-password")).text();
    for (const id of ["email", "password", "confirm"]) expect(html).toContain(`<label for="${id}">`);
    expect(html).toMatch(/<input id="password" type="password" autocomplete="new-password" required minlength="8"/);
    expect(html).not.toMatch(/<input[^>]*\sname=/);
    expect(html).toContain('post("/v1/auth/reset-password", { email, token, newPassword: password.value })');
  });

  it("escapes the configured platform name", async () => {
    const ctx = createExecutionContext();
    const response = await app.fetch(new Request(`${BASE}/reset-password`), { ...env, PLATFORM_NAME: `<b onclick="x()">Acme</b>` }, ctx);
    await waitOnExecutionContext(ctx);
    const html = await response.text();
    expect(html).toContain("<h1>Choose a new &lt;b onclick=&quot;x()&quot;&gt;Acme&lt;/b&gt; password</h1>");
    expect(html).not.toContain("<b onclick");
  });
});

describe("GET /verify-email", () => {
  it("verifies nothing: the token still works afterwards, and only by POST", async () => {
    const email = uniqueEmail("page-get");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    const token = await mailedToken(email, "/verify-email");
    for (let i = 0; i < 3; i++) expect((await call(`/verify-email?token=${token}&email=${encodeURIComponent(email)}`)).status).toBe(200);
    await expectError(await call("/v1/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    expect((await call("/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
  });

  it("posts only the token, after a click", async () => {
    const html = await (await call("/verify-email")).text();
    expect(html).toContain('<button id="confirm" type="button">Confirm my email</button>');
    expect(html).toContain('button.addEventListener("click"');
    expect(html).toContain('post("/v1/auth/verify-email", { token })');
  });
});
