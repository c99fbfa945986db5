/**
 * The pages carry the brand of the mail that linked to them (issue 13): the platform name, logo and
 * app a forgot-password mail was sent with are kept with its token, shown by the page it opens
 * (the logo's origin alone allowed to load), and never taken from the URL.
 */
import { describe, expect, it } from "vitest";
import { call, mailedToken, verifiedAccount } from "../helpers";

function cspOf(response: Response): Map<string, string> {
  const policy = response.headers.get("Content-Security-Policy") ?? "";
  return new Map(policy.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(" ")]));
}

async function brandedReset(extra: Record<string, string>) {
  const account = await verifiedAccount("brand");
  const forgot = await call("/v1/auth/forgot-password", {
    body: { email: account.email, platformName: "Drssed <Studio>", logoUrl: "https://cdn.example.com/logo.png", ...extra },
  });
  expect(forgot.status).toBe(200);
  return mailedToken(account.email, "/reset-password", 2);
}

describe("the reset page shows the brand of its mail", () => {
  it("platform name, logo (only its origin may load) and a link back to the app it was sent for", async () => {
    const token = await brandedReset({ baseUrl: "https://app.example.com/account" });
    const page = await call(`/reset-password?token=${token}&email=x`);
    const html = await page.text();
    expect(html).toContain("<h1>Choose a new Drssed &lt;Studio&gt; password</h1>");
    expect(html).toContain('<img src="https://cdn.example.com/logo.png" alt="Drssed &lt;Studio&gt;"');
    expect(html).toContain('<a id="return" href="https://app.example.com/account">Back to Drssed &lt;Studio&gt;</a>');
    expect(cspOf(page).get("img-src")).toBe("https://cdn.example.com");
  });

  it("a client alias is the app to go back to as well", async () => {
    const token = await brandedReset({ clientAlias: "VERIFIER" });
    const html = await (await call(`/reset-password?token=${token}`)).text();
    expect(html).toContain('href="https://verifier.example.com/account"');
  });

  it("without baseUrl or clientAlias there is no link back, and the page stays the service's own otherwise", async () => {
    const token = await brandedReset({});
    const html = await (await call(`/reset-password?token=${token}`)).text();
    expect(html).toContain("Drssed &lt;Studio&gt;");
    expect(html).not.toContain('id="return"');
  });

  it("never takes a brand from the URL, and shows the service's own for an unknown token", async () => {
    const page = await call(
      `/reset-password?token=${"x".repeat(43)}&platformName=Evil&logoUrl=${encodeURIComponent("https://evil.example.com/x.png")}&returnUrl=https://evil.example.com`,
    );
    const html = await page.text();
    expect(html).not.toMatch(/evil/i);
    expect(html).toContain("<h1>Choose a new Edge Auth password</h1>");
    expect(cspOf(page).get("img-src")).toBe("'none'");
  });
});
