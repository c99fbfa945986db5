/**
 * Verification mails (register, resend-verification) take `baseUrl` and `clientAlias` like the
 * other mails (API.md §7; issue 22 item 8): the link opens the app's page, which the verification
 * page also links back to; a base not on the allow-list or an unknown alias is a 400 before
 * anything is stored.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, mailbox, uniqueEmail } from "../helpers";

async function verificationLink(to: string, count = 1): Promise<URL> {
  const messages = await mailbox(to, count);
  const link = messages[0]?.text.match(/https?:\/\/\S+/g)?.find((l) => l.includes("/verify-email"));
  if (!link) throw new Error(`no verification link mailed to ${to}`);
  return new URL(link);
}

describe("verification links", () => {
  it("register with baseUrl links to the app's page, and the page's way back is the app", async () => {
    const email = uniqueEmail("vl-base");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD, baseUrl: "https://app.example.com/account/" } })).status).toBe(201);
    const link = await verificationLink(email);
    expect(`${link.origin}${link.pathname}`).toBe("https://app.example.com/account/verify-email");
    expect(link.searchParams.get("email")).toBe(email);
    const token = link.searchParams.get("token")!;
    const page = await call(`/verify-email?token=${encodeURIComponent(token)}`);
    expect(await page.text()).toContain("https://app.example.com/account");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
  });

  it("register and resend with clientAlias link to the configured client; without either, the service's own page", async () => {
    const email = uniqueEmail("vl-alias");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD, client_alias: "VERIFIER" } })).status).toBe(201);
    expect((await verificationLink(email)).href).toMatch(/^https:\/\/verifier\.example\.com\/account\/verify-email\?/);
    expect((await call("/v1/auth/resend-verification", { body: { email, clientAlias: "VERIFIER" } })).status).toBe(200);
    expect((await verificationLink(email, 2)).href).toMatch(/^https:\/\/verifier\.example\.com\/account\/verify-email\?/);
    expect((await call("/v1/auth/resend-verification", { body: { email } })).status).toBe(200);
    expect((await verificationLink(email, 3)).href).toMatch(/^http:\/\/auth\.test\/verify-email\?/);
  });

  it("refuses a base off the allow-list or an unknown alias (400) and stores nothing", async () => {
    const email = uniqueEmail("vl-bad");
    await expectError(await call("/v1/auth/register", { body: { email, password: PASSWORD, baseUrl: "https://evil.example.net" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/register", { body: { email, password: PASSWORD, clientAlias: "NOPE" } }), 400, "invalid_request");
    expect(await env.DB.prepare("SELECT id FROM users WHERE email_normalized = ?").bind(email).first()).toBeNull();
    await expectError(await call("/v1/auth/resend-verification", { body: { email, baseUrl: "https://evil.example.net" } }), 400, "invalid_request");
  });
});
