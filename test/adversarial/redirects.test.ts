/**
 * Open redirects and token exfiltration through mailed links (API.md §7, ASVS 3.7.2, OWASP Forgot
 * Password cheat sheet): a `baseUrl` off the allow-list, a `logoUrl` that is not https on a public
 * host, or an unknown `clientAlias` is a 400 naming the field, and no mail goes out; the Host
 * header never decides where a link points.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, expectError, freshIp, mailbox, verifiedAccount } from "../helpers";
import type { Account } from "../helpers";

const FORGOT_DOORS = ["/v1/auth/forgot-password", "/auth/forgot-password"];

const BAD_BASE_URLS = [
  "//evil.example",
  "//app.example.com.evil.example",
  "https://evil.example",
  "https://evil.example/https://app.example.com",
  "https://evil.example#https://app.example.com",
  "https://evil.example?https://app.example.com",
  "https://app.example.com@evil.example",
  "https://app.example.com%40evil.example",
  "https://app.example.com:443@evil.example",
  "https://user@app.example.com",
  "https://user:pass@app.example.com",
  "https://app.example.com.evil.example",
  "https://app.example.com.",
  "https://app.example.co",
  "https://evilapp.example.com",
  "https://app-example.com",
  "https://xn--pp-8cd.example.com",
  "https://аpp.example.com",
  "https://app.example.com:8443",
  "http://app.example.com",
  "http://localhost:5174",
  "javascript:alert(document.cookie)",
  "JaVaScRiPt:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "file:///etc/passwd",
  "app.example.com",
  "/reset-password",
  "https:evil.example",
  "https:/evil.example",
  "https:\\\\evil.example",
  "\thttps://evil.example",
  "",
];

const BAD_LOGO_URLS = [
  "//evil.example/logo.png",
  "http://cdn.example.com/logo.png",
  "javascript:alert(1)",
  "data:image/svg+xml,<svg onload=alert(1)>",
  "https://user@cdn.example.com/logo.png",
  "https://user:pass@cdn.example.com/logo.png",
  "https://127.0.0.1/logo.png",
  "https://2130706433/logo.png",
  "https://0x7f.1/logo.png",
  "https://[::1]/logo.png",
  "https://169.254.169.254/latest/meta-data",
  "https://localhost/logo.png",
  "https://intranet/logo.png",
  "https://printer.local/logo.png",
  "https://cdn.example.123/logo.png",
  "logo.png",
  "",
];

const BAD_ALIASES = ["__proto__", "constructor", "toString", "hasOwnProperty", "verifier", "VERIFIER ", "UNKNOWN", ""];

let account: Account;

beforeAll(async () => {
  account = await verifiedAccount("redirect");
});

async function expectFieldRejected(path: string, body: Record<string, unknown>, field: string) {
  const response = await call(path, { body });
  const error = await expectError(response, 400, "invalid_request");
  expect(error.details?.map((d: { field: string }) => d.field)).toContain(field);
}

describe("baseUrl", () => {
  for (const path of FORGOT_DOORS) {
    it(`${path} refuses every origin off the allow-list`, async () => {
      for (const baseUrl of BAD_BASE_URLS) await expectFieldRejected(path, { email: account.email, baseUrl }, "baseUrl");
    });
  }
});

describe("logoUrl", () => {
  for (const path of FORGOT_DOORS) {
    it(`${path} refuses anything but https on a public host`, async () => {
      for (const logoUrl of BAD_LOGO_URLS) await expectFieldRejected(path, { email: account.email, logoUrl }, "logoUrl");
    });
  }
});

describe("clientAlias", () => {
  it("refuses unknown aliases, inherited names included", async () => {
    for (const clientAlias of BAD_ALIASES) {
      await expectFieldRejected("/v1/auth/forgot-password", { email: account.email, clientAlias }, "clientAlias");
    }
    // A valid baseUrl does not excuse a bad alias beside it.
    await expectFieldRejected(
      "/v1/auth/forgot-password",
      { email: account.email, baseUrl: "https://app.example.com", clientAlias: "__proto__" },
      "clientAlias",
    );
  });
});

describe("what was mailed", () => {
  it("sent nothing for the refused requests, and links only to allowed places for accepted ones", async () => {
    // The account's only mail so far is its verification: every refusal above sent nothing.
    expect((await mailbox(account.email, 2, 300)).map((m) => m.subject)).toEqual([expect.stringMatching(/confirm/i)]);

    const accepted = await call("/v1/auth/forgot-password", {
      body: { email: account.email, baseUrl: "https://APP.example.com/account/", logoUrl: "https://cdn.example.com/logo.png" },
    });
    expect(accepted.status).toBe(200);
    const [reset] = await mailbox(account.email, 2);
    const links = reset!.text.match(/https?:\/\/\S+/g) ?? [];
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(new URL(link).origin).toBe("https://app.example.com");
    expect(links[0]).toMatch(/^https:\/\/app\.example\.com\/account\/reset-password\?token=/);
    expect(reset!.html).toContain('src="https://cdn.example.com/logo.png"');
  });

  it("builds links from PUBLIC_URL, never from the Host header", async () => {
    const target = await verifiedAccount("redirect-host");
    const response = await exports.default.fetch(
      new Request("http://evil.example/v1/auth/forgot-password", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "cf-connecting-ip": freshIp(),
          "x-forwarded-host": "evil.example",
          forwarded: "host=evil.example",
        },
        body: JSON.stringify({ email: target.email }),
      }),
    );
    expect(response.status).toBe(200);
    const reset = (await mailbox(target.email, 2)).find((m) => m.text.includes("/reset-password"));
    const link = reset!.text.match(/https?:\/\/\S+reset-password\S*/)![0];
    expect(new URL(link).origin).toBe("http://auth.test");
  });
});
