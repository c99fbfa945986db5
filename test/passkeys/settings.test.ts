/**
 * The WebAuthn settings (API.md §12) are derived from PUBLIC_URL and checked when the configuration
 * is parsed; the development page /_dev/passkeys exists only in development.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { loadConfig } from "../../src/config";
import { BASE, call, configReasons as reasons, env, productionEnv as production } from "../helpers";

describe("WebAuthn settings", () => {
  it("default to the host and origin of PUBLIC_URL, and the platform name", () => {
    const config = loadConfig(production({ PLATFORM_NAME: "Acme" }));
    expect(config.webauthn).toEqual({ rpId: "auth.example.com", rpName: "Acme", origins: ["https://auth.example.com"] });
  });

  it("take a parent domain as RP ID, several origins and Android app origins", () => {
    const apk = "android:apk-key-hash:Ym9ndXMtYXBrLWtleS1oYXNoLWZvci10ZXN0cw";
    const config = loadConfig(production({ WEBAUTHN_RP_ID: "example.com", WEBAUTHN_ORIGINS: `https://auth.example.com, https://app.example.com,${apk}`, WEBAUTHN_RP_NAME: "Acme ID" }));
    expect(config.webauthn).toEqual({ rpId: "example.com", rpName: "Acme ID", origins: ["https://auth.example.com", "https://app.example.com", apk] });
  });

  it("keep an Android app origin without its base64 padding, the form Android sends", () => {
    const apk = "android:apk-key-hash:Ym9ndXMtYXBrLWtleS1oYXNoLWZvci10ZXN0cw";
    const config = loadConfig(production({ WEBAUTHN_ORIGINS: `https://auth.example.com,${apk}==` }));
    expect(config.webauthn.origins).toEqual(["https://auth.example.com", apk]);
    expect(reasons(production({ WEBAUTHN_ORIGINS: `${apk}===` })).join()).toMatch(/WEBAUTHN_ORIGINS.*android:apk-key-hash/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "android:apk-key-hash:Ym9ndXMtYXBrLWtleS1oYXNoLWZvci+0ZXN0cw" })).join()).toMatch(/WEBAUTHN_ORIGINS/);
  });

  it("refuse an IP address or a non-domain as RP ID, http origins in production, and origins off the RP ID", () => {
    expect(reasons(production({ WEBAUTHN_RP_ID: "127.0.0.1" })).join()).toMatch(/WEBAUTHN_RP_ID/);
    expect(reasons(production({ WEBAUTHN_RP_ID: "com" })).join()).toMatch(/WEBAUTHN_RP_ID/);
    expect(reasons(production({ WEBAUTHN_RP_ID: "example.notatld" })).join()).toMatch(/WEBAUTHN_RP_ID/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "http://auth.example.com" })).join()).toMatch(/WEBAUTHN_ORIGINS.*https/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "https://evil.example.net" })).join()).toMatch(/WEBAUTHN_ORIGINS.*RP ID/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "https://notexample.com" })).join()).toMatch(/WEBAUTHN_ORIGINS.*RP ID/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "android:apk-key-hash:" })).join()).toMatch(/WEBAUTHN_ORIGINS/);
    expect(reasons(production({ WEBAUTHN_ORIGINS: "not a url" })).join()).toMatch(/WEBAUTHN_ORIGINS/);
  });

  it("allow localhost and http origins in development", () => {
    const config = loadConfig({ ...env, WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ORIGINS: "http://localhost:8787" });
    expect(config.webauthn).toMatchObject({ rpId: "localhost", origins: ["http://localhost:8787"] });
  });
});

describe("/_dev/passkeys", () => {
  it("serves the page in development, under a nonce CSP", async () => {
    const response = await call("/_dev/passkeys");
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy")!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await response.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain("parseCreationOptionsFromJSON");
  });

  it("is a 404 outside development", async () => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request(`${BASE}/_dev/passkeys`), production() as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(404);
  });
});
