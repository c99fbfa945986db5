/**
 * OIDC_PROVIDERS is checked at start (src/config with src/identities/providers.ts): names, client
 * ids, issuers (https in production), presets and their overrides; a provider that cannot run the
 * web flow answers 404 there.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { parseProviders, secretName } from "../../src/identities/providers";
import worker from "../../src";
import { BASE, env, expectError } from "../helpers";

const reasons = (providers: unknown, extra: Record<string, unknown> = {}): string[] => {
  try {
    loadConfig({ ...env, OIDC_PROVIDERS: JSON.stringify(providers), ...extra });
  } catch (error) {
    if (error instanceof ConfigError) return error.reasons;
    throw error;
  }
  return [];
};

describe("OIDC_PROVIDERS", () => {
  it("accepts presets by name alone and fills in their issuer and endpoints", () => {
    const { providers, problems } = parseProviders({ google: { clientIds: ["g"] }, apple: { clientIds: ["a"], teamId: "T", keyId: "K" } }, true);
    expect(problems).toEqual([]);
    expect(providers.google).toMatchObject({ issuer: "https://accounts.google.com", issuerAliases: ["accounts.google.com"], secretName: "OIDC_SECRET_GOOGLE" });
    expect(providers.google?.endpoints?.jwksUri).toBe("https://www.googleapis.com/oauth2/v3/certs");
    expect(providers.apple).toMatchObject({ issuer: "https://appleid.apple.com", teamId: "T", keyId: "K" });
    expect(providers.apple?.endpoints?.tokenEndpoint).toBe("https://appleid.apple.com/auth/token");
    expect(secretName("my-idp")).toBe("OIDC_SECRET_MY_IDP");
  });

  it("refuses bad names, empty client ids, a missing issuer, unknown fields and half overrides", () => {
    expect(reasons({ "Bad_Name": { clientIds: ["x"], issuer: "https://idp.example.com" } }).join()).toMatch(/Bad_Name.*lower-case/);
    expect(reasons({ idp: { clientIds: [], issuer: "https://idp.example.com" } }).join()).toMatch(/idp\.clientIds/);
    expect(reasons({ idp: { clientIds: [""], issuer: "https://idp.example.com" } }).join()).toMatch(/idp\.clientIds/);
    expect(reasons({ idp: { clientIds: ["x"] } }).join()).toMatch(/idp\.issuer: required/);
    expect(reasons({ idp: { clientIds: ["x"], issuer: "https://idp.example.com", secret: "no" } }).join()).toMatch(/idp/);
    expect(reasons({ google: { clientIds: ["x"], jwksUri: "https://x.example.com/jwks" } }).join()).toMatch(/together/);
    expect(reasons({ apple: { clientIds: ["x"], teamId: "T" } }).join()).toMatch(/teamId and keyId/);
    expect(reasons("not an object").length).toBeGreaterThan(0);
    expect(reasons({ idp: { clientIds: ["x"], issuer: "https://idp.example.com" } })).toEqual([]);
  });

  it("demands https issuers and endpoints in production, and allows http in development", () => {
    const http = { idp: { clientIds: ["x"], issuer: "http://127.0.0.1:9999" } };
    expect(parseProviders(http, true).problems.join()).toMatch(/must be https in production/);
    expect(parseProviders(http, false).problems).toEqual([]);
    const overridden = { google: { clientIds: ["x"], issuer: "https://g.example.com", authorizationEndpoint: "https://g.example.com/a", tokenEndpoint: "http://g.example.com/t", jwksUri: "https://g.example.com/k" } };
    expect(parseProviders(overridden, true).problems.join()).toMatch(/http:\/\/g\.example\.com\/t must be https/);
    // An overridden preset issuer is the only one accepted (no alias).
    expect(parseProviders(overridden, true).providers.google?.issuerAliases).toEqual([]);
  });
});

describe("a provider that cannot run the web flow", () => {
  it("answers 404 at authorize: apple without its team key, google without its secret", async () => {
    const environment = {
      ...env,
      OIDC_PROVIDERS: JSON.stringify({ apple: { clientIds: ["a"] }, google: { clientIds: ["g"] } }),
      OIDC_SECRET_APPLE: "",
      OIDC_SECRET_GOOGLE: "",
    };
    for (const name of ["apple", "google", "loopback"]) {
      const ctx = createExecutionContext();
      const response = await worker.fetch(
        new Request(`${BASE}/v1/auth/oauth/${name}/authorize?redirect_uri=${encodeURIComponent("https://app.example.com/cb")}`, { headers: { "cf-connecting-ip": "10.99.0.1" }, redirect: "manual" }),
        environment as unknown as Env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      await expectError(response, 404, "not_found");
    }
  });
});
