/**
 * The development pages: the outbox page (HTML mail in a sandboxed frame, clickable links, fits a
 * phone, every value escaped) and the index at `/`, which production keeps a JSON 404.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, mailbox, uniqueEmail } from "../helpers";

describe("the outbox page", () => {
  it("shows the HTML mail in a sandboxed frame, the links clickable, and fits a phone", async () => {
    const email = uniqueEmail("outbox-page");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    const [mail] = await mailbox(email);
    const link = mail!.text.match(/https?:\/\/\S+\/verify-email\?\S+/)![0];
    const page = await call(`/_dev/mail?to=${encodeURIComponent(email)}`);
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('<meta name="viewport" content="width=device-width,initial-scale=1">');
    expect(text).toContain(`<a href="${link.replaceAll("&", "&amp;")}">`);
    expect(text).toMatch(/<iframe sandbox="" srcdoc="[^"]*&lt;/);
    expect(text).not.toContain("<script");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("escapes what it shows", async () => {
    const page = await call(`/_dev/mail?to=${encodeURIComponent("<b>x</b>@example.com")}`);
    const text = await page.text();
    expect(text).toContain("&lt;b&gt;x&lt;/b&gt;@example.com");
    expect(text).not.toContain("<b>x</b>");
  });
});

describe("GET /", () => {
  it("is an index of the development links in development", async () => {
    const page = await call("/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const text = await page.text();
    for (const href of ["/docs", "/openapi.json", "/_dev/mail"]) expect(text).toContain(`href="${href}"`);
  });
  // Production keeps `/` a JSON 404: test/config/config.test.ts.
});
