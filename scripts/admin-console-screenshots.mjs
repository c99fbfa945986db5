#!/usr/bin/env node
/**
 * Makes the admin console's screenshots in docs/ (docs/admin-console-desktop.png at 1280 px,
 * docs/admin-console-phone.png at 390 px): starts the service with `wrangler dev` exactly as the
 * browser tests do (scripts/browser-test-service.mjs: fresh state, a random ADMIN_API_KEY), fills
 * it with a few made-up users over the public API (sign-ups confirmed through the development
 * outbox, sessions from several clients, a passkey, a disabled account, a guest), signs into
 * /admin in headless Chromium (Debian's /usr/bin/chromium) and captures one user's page. Run it
 * through npm so Node 24 can load the test's WebAuthn helper (TypeScript):
 *
 * @example
 * npm run screenshots:admin-console
 */
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { attest, softCredential } from "../test/helpers/webauthn.ts";
import setup from "./browser-test-service.mjs";

const PASSWORD = "violet-harbor-lantern-42";
const AGENTS = {
  mac: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  iphone: "Wardrobe/3.4.1 (iPhone15,3; iOS 18.1) CFNetwork/1568",
  windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  android: "Wardrobe/3.4.0 (Pixel 8; Android 15) okhttp/4.12.0",
};

const provided = {};
const stop = await setup({ provide: (name, value) => void (provided[name] = value) });
const base = provided.serviceUrl;
let ip = 10;

async function call(path, { body, token, agent, address, method = "POST" } = {}) {
  const headers = { "cf-connecting-ip": address ?? `203.0.113.${(ip = (ip % 250) + 1)}`, "user-agent": agent ?? AGENTS.windows };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function verifiedUser(email, username) {
  await call("/v1/auth/register", { body: { email, password: PASSWORD, username } });
  let link;
  for (let i = 0; i < 100 && !link; i++) {
    const mail = await (await fetch(`${base}/_dev/mail?to=${encodeURIComponent(email)}`, { headers: { accept: "application/json" } })).json();
    link = mail.messages[0]?.text.match(/https?:\/\/\S+\/verify-email\?\S+/)?.[0];
    if (!link) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const token = new URL(link).searchParams.get("token");
  await call("/v1/auth/verify-email", { body: { token } });
}

const signIn = (email, agent, address) => call("/v1/auth/login", { body: { email, password: PASSWORD }, agent, address });

async function addPasskey(accessToken, name) {
  const { challengeId, options } = await call("/v1/auth/passkeys/register/options", { token: accessToken, body: {} });
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id, origin: base.replace("127.0.0.1", "localhost"), rpId: "localhost" });
  await call("/v1/auth/passkeys/register", { token: accessToken, body: { challengeId, response, name } });
}

try {
  const people = [
    ["ada.lovelace@example.com", "ada"],
    ["grace.hopper@example.com", "grace"],
    ["alan.turing@example.com", "alan.t"],
    ["katherine.johnson@example.com", "kjohnson"],
    ["margaret.hamilton@example.com", "margaret"],
  ];
  for (const [email, username] of people) await verifiedUser(email, username);
  await call("/v1/auth/register", { body: { email: "edsger.dijkstra@example.com", password: PASSWORD } });
  await call("/v1/auth/guest", {});
  await call("/v1/auth/login", { body: { email: "ada.lovelace@example.com", password: "not-her-password-1" }, agent: AGENTS.android, address: "198.51.100.77" }).catch(() => null);
  const ada = await signIn("ada.lovelace@example.com", AGENTS.mac, "203.0.113.24");
  await signIn("ada.lovelace@example.com", AGENTS.iphone, "198.51.100.14");
  await addPasskey(ada.accessToken, "MacBook Pro Touch ID");
  await addPasskey(ada.accessToken, "iPhone");
  await signIn("grace.hopper@example.com", AGENTS.windows);
  const alan = await signIn("alan.turing@example.com", AGENTS.android);
  const admin = { authorization: `Bearer ${provided.adminKey}`, "cf-connecting-ip": "192.0.2.10" };
  await fetch(`${base}/v1/admin/users/${alan.user.id}/disable`, { method: "POST", headers: admin });

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  try {
    for (const [name, viewport, scale] of [["desktop", { width: 1280, height: 860 }, 1], ["phone", { width: 390, height: 844 }, 2]]) {
      const context = await browser.newContext({ viewport, deviceScaleFactor: scale, isMobile: name === "phone", hasTouch: name === "phone", locale: "en-GB", timezoneId: "UTC" });
      const page = await context.newPage();
      await page.goto(`${base}/admin`);
      await page.getByLabel("Admin key").fill(provided.adminKey);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("link", { name: /ada\.lovelace@example\.com/ }).click();
      await page.getByRole("heading", { name: "Latest activity" }).waitFor();
      const path = `docs/admin-console-${name}.png`;
      writeFileSync(path, await page.screenshot({ fullPage: name === "desktop" }));
      console.log(`screenshots: wrote ${path}`);
      if (name === "desktop") {
        await page.getByRole("link", { name: "Users", exact: true }).click();
        await page.getByRole("link", { name: /grace\.hopper@example\.com/ }).waitFor();
        writeFileSync("docs/admin-console-search.png", await page.screenshot());
        console.log("screenshots: wrote docs/admin-console-search.png");
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
} finally {
  await stop();
}
