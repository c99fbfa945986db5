/**
 * Where mailed links may point and what a mail may show (API.md §7; src/mail/links.ts): our own pages by
 * default, `baseUrl` only on an allowed origin, `clientAlias` only from CLIENT_ALIASES, `logoUrl`
 * only https on a public TLD, and `platformName` escaped in HTML and one line in the subject.
 * The test bindings allow https://app.example.com and http://localhost:5173, and alias VERIFIER.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { AuthError } from "../../src/http/errors";
import { checkLogoUrl, cleanPlatformName, linkBase, pageLink } from "../../src/mail/links";
import { BASE, call, env, expectError, mailbox, verifiedAccount } from "../helpers";

const config = loadConfig(env);

function refusedField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof AuthError && error.code === "invalid_request") return error.details?.[0]?.field;
    throw error;
  }
  return undefined;
}

/** Asks for a reset with `options` and returns the newest mail, or the error answer. */
async function resetMailWith(options: Record<string, unknown>) {
  const account = await verifiedAccount("links");
  const response = await call("/v1/auth/forgot-password", { body: { email: account.email, ...options } });
  if (response.status !== 200) return { response, mail: undefined };
  const [mail] = await mailbox(account.email, 2);
  return { response, mail: mail!, account };
}

describe("linkBase", () => {
  it("points at the service's own pages by default", () => {
    expect(linkBase(config, "http://ignored.test", {})).toBe(BASE);
  });

  it("accepts a baseUrl on an allowed origin, keeping its path and dropping query and fragment", () => {
    expect(linkBase(config, BASE, { baseUrl: "https://app.example.com" })).toBe("https://app.example.com");
    expect(linkBase(config, BASE, { baseUrl: "https://APP.example.com:443/account/?next=x#top" })).toBe("https://app.example.com/account");
    expect(linkBase(config, BASE, { baseUrl: "http://localhost:5173/" })).toBe("http://localhost:5173");
  });

  it.each([
    "https://app.example.com.evil.com",
    "https://evil.com/https://app.example.com",
    "https://app.example.com@evil.com",
    "https://user:pass@app.example.com",
    "//app.example.com",
    "app.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "javascript:alert(1)//https://app.example.com",
    "https://evil.example.com",
    "",
  ])("refuses baseUrl %j", (baseUrl) => {
    expect(refusedField(() => linkBase(config, BASE, { baseUrl }))).toBe("baseUrl");
  });

  it("accepts a configured clientAlias and refuses any other, inherited names included", () => {
    expect(linkBase(config, BASE, { clientAlias: "VERIFIER" })).toBe("https://verifier.example.com/account");
    for (const clientAlias of ["verifier", "OTHER", "__proto__", "toString", ""]) {
      expect(refusedField(() => linkBase(config, BASE, { clientAlias }))).toBe("clientAlias");
    }
  });

  it("checks both options when both are given; baseUrl then wins", () => {
    expect(linkBase(config, BASE, { baseUrl: "https://app.example.com", clientAlias: "VERIFIER" })).toBe("https://app.example.com");
    expect(refusedField(() => linkBase(config, BASE, { baseUrl: "https://app.example.com", clientAlias: "NOPE" }))).toBe("clientAlias");
  });

  it("builds page links with every value encoded", () => {
    const link = pageLink("https://app.example.com/a", "/reset-password", { token: "t_-1", email: "a+b&c@example.com" });
    expect(link).toBe("https://app.example.com/a/reset-password?token=t_-1&email=a%2Bb%26c%40example.com");
    expect(new URL(link).searchParams.get("email")).toBe("a+b&c@example.com");
  });
});

describe("checkLogoUrl", () => {
  it.each(["https://example.com/logo.png", "https://cdn.brand.co.uk/a/b.svg?v=2", "https://xn--bcher-kva.xn--p1ai/logo.png", "https://Cdn.Example.COM/x.png"])(
    "accepts %j",
    (logoUrl) => {
      expect(checkLogoUrl(logoUrl)).toBe(new URL(logoUrl).href);
    },
  );

  it.each([
    "//example.com/logo.png",
    "user@example.com",
    "https://user@example.com/logo.png",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
    "http://example.com/logo.png",
    "ftp://example.com/logo.png",
    "https://localhost/logo.png",
    "https://example/logo.png",
    "https://printer.local/logo.png",
    "https://service.internal/logo.png",
    "https://example.123/logo.png",
    "https://127.0.0.1/logo.png",
    "https://0x7f.1/logo.png",
    "https://2130706433/logo.png",
    "https://[::1]/logo.png",
    "https://169.254.169.254/latest/meta-data",
    "https://exa_mple.com/logo.png",
    "https://-bad.com/logo.png",
    "https://example.com./logo.png",
    "not a url",
  ])("refuses %j", (logoUrl) => {
    expect(refusedField(() => checkLogoUrl(logoUrl))).toBe("logoUrl");
  });
});

describe("cleanPlatformName", () => {
  it("removes line breaks and control characters, trims and bounds the length", () => {
    expect(cleanPlatformName("Acme\r\nBcc: victim@example.com", "X")).toBe("Acme Bcc: victim@example.com");
    expect(cleanPlatformName("A\u2028B\u0000C\tD", "X")).toBe("A B C D");
    expect([...cleanPlatformName("é".repeat(300), "X")]).toHaveLength(100);
    expect(cleanPlatformName(" \r\n ", "Fallback")).toBe("Fallback");
    expect(cleanPlatformName(undefined, "Fallback")).toBe("Fallback");
  });
});

describe("forgot-password links over HTTP", () => {
  it("sends the link to an allowed baseUrl", async () => {
    const { mail, account } = await resetMailWith({ baseUrl: "https://app.example.com/account" });
    const link = new URL(mail!.text.match(/https:\/\/app\.example\.com\/\S+/)![0]);
    expect(`${link.origin}${link.pathname}`).toBe("https://app.example.com/account/reset-password");
    expect(link.searchParams.get("email")).toBe(account!.email);
    expect(link.searchParams.get("token")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("sends the link to a configured client alias", async () => {
    const { mail } = await resetMailWith({ clientAlias: "VERIFIER" });
    expect(mail!.text).toContain("https://verifier.example.com/account/reset-password?token=");
  });

  it.each([
    [{ baseUrl: "https://app.example.com.evil.com" }, "baseUrl"],
    [{ baseUrl: "//evil.com" }, "baseUrl"],
    [{ clientAlias: "UNKNOWN" }, "clientAlias"],
    [{ logoUrl: "http://example.com/logo.png" }, "logoUrl"],
    [{ logoUrl: "javascript:alert(1)" }, "logoUrl"],
    [{ logoUrl: "https://10.0.0.1/logo.png" }, "logoUrl"],
  ])("answers 400 for %j and mails nothing", async (options, field) => {
    const { response, mail } = await resetMailWith(options);
    const body = await expectError(response, 400, "invalid_request");
    expect(body.details[0].field).toBe(field);
    expect(mail).toBeUndefined();
  });

  it("escapes platformName in the HTML and keeps the subject on one line", async () => {
    const platformName = `<img src=x onerror=alert(1)> "Acme" & Co\r\nBcc: victim@example.com`;
    const { mail } = await resetMailWith({ platformName, logoUrl: "https://cdn.example.com/logo.png?a=1&b=2" });
    expect(mail!.subject).toBe(`Reset your <img src=x onerror=alert(1)> "Acme" & Co Bcc: victim@example.com password`);
    expect(mail!.subject).not.toMatch(/[\r\n]/);
    expect(mail!.html).not.toContain("<img src=x");
    expect(mail!.html).toContain("&lt;img src=x onerror=alert(1)&gt; &quot;Acme&quot; &amp; Co");
    expect(mail!.html).toContain('<img src="https://cdn.example.com/logo.png?a=1&amp;b=2"');
  });
});

describe("logoUrl's TLD is one of the root zone (API.md §7: \"a real TLD\")", () => {
  it.each(["https://cdn.notarealtld/logo.png", "https://vault.service.consul/logo.png", "https://api.default.svc/logo.png"])(
    "refuses %j",
    (logoUrl) => expect(refusedField(() => checkLogoUrl(logoUrl))).toBe("logoUrl"),
  );

  it.each(["https://cdn.example.co.uk/logo.png", "https://brand.io/l.png", "https://x.photography/a.png", "https://xn--bcher-kva.xn--p1ai/l.png"])(
    "accepts %j",
    (logoUrl) => expect(checkLogoUrl(logoUrl)).toBe(new URL(logoUrl).href),
  );
});
