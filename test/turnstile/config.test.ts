/**
 * Turnstile's settings (API.md §17; src/turnstile/settings.ts) as `loadConfig` parses and checks
 * them, and what the OpenAPI document says about the token and the gate's answers.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { call, configReasons, env, json, productionEnv } from "../helpers";

const SECRET = "0x4AAAAAAABkMYinukE8nzYS_test_secret";
const dev = (vars: Record<string, string>) => ({ JWT_SIGNING_KEY: env.JWT_SIGNING_KEY, ENVIRONMENT: "development", ...vars });

describe("Turnstile settings", () => {
  it("are off without TURNSTILE_SECRET_KEY, whatever else is set (the test suite's own environment included)", () => {
    expect(loadConfig(env).turnstile).toBeUndefined();
    expect(loadConfig(dev({ TURNSTILE_ROUTES: "login", TURNSTILE_HOSTNAMES: "app.example.com" })).turnstile).toBeUndefined();
  });

  it("default to the contract's routes, Cloudflare's siteverify and 10 seconds", () => {
    const settings = loadConfig(dev({ TURNSTILE_SECRET_KEY: SECRET })).turnstile!;
    expect([...settings.routes].sort()).toEqual(["email-code", "forgot-password", "guest", "register", "request-deletion", "resend-verification"]);
    expect(settings).toMatchObject({
      secretKey: SECRET,
      verifyUrl: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
      hostnames: null,
      timeoutMs: 10_000,
    });
    // wrangler.toml's own values (blank lists) mean the same defaults.
    const fromToml = loadConfig(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_ROUTES: "", TURNSTILE_HOSTNAMES: "", TURNSTILE_TIMEOUT_MS: "10000" })).turnstile!;
    expect(fromToml.routes).toEqual(settings.routes);
    expect(fromToml.hostnames).toBeNull();
  });

  it("read the lists, lower-casing host names", () => {
    const settings = loadConfig(
      dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_ROUTES: " login , guest", TURNSTILE_HOSTNAMES: "App.Example.com,www.example.com", TURNSTILE_TIMEOUT_MS: "2500" }),
    ).turnstile!;
    expect([...settings.routes]).toEqual(["login", "guest"]);
    expect([...settings.hostnames!]).toEqual(["app.example.com", "www.example.com"]);
    expect(settings.timeoutMs).toBe(2500);
  });

  it("refuse unknown routes, bad host names, a timeout out of range and a verify URL that is not a URL", () => {
    expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_ROUTES: "guest,signup" })).join()).toMatch(/TURNSTILE_ROUTES: unknown route "signup"/);
    expect(configReasons(dev({ TURNSTILE_HOSTNAMES: "https://app.example.com" })).join()).toMatch(/TURNSTILE_HOSTNAMES/);
    expect(configReasons(dev({ TURNSTILE_TIMEOUT_MS: "50" })).join()).toMatch(/TURNSTILE_TIMEOUT_MS/);
    expect(configReasons(dev({ TURNSTILE_TIMEOUT_MS: "60000" })).join()).toMatch(/TURNSTILE_TIMEOUT_MS/);
    expect(configReasons(dev({ TURNSTILE_VERIFY_URL: "not a url" })).join()).toMatch(/TURNSTILE_VERIFY_URL/);
    expect(configReasons(dev({ TURNSTILE_VERIFY_URL: "ftp://example.com/siteverify" })).join()).toMatch(/TURNSTILE_VERIFY_URL/);
    // Loopback http is for development (the tests' stand-in).
    expect(configReasons(dev({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_VERIFY_URL: "http://127.0.0.1:8787/siteverify" }))).toEqual([]);
  });

  it("in production: https only, and never Cloudflare's test secrets", () => {
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET }))).toEqual([]);
    expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_VERIFY_URL: "http://siteverify.example.com/" })).join()).toMatch(
      /TURNSTILE_VERIFY_URL: must be https in production/,
    );
    for (const dummy of ["1x0000000000000000000000000000000AA", "2x0000000000000000000000000000000AA", "3x0000000000000000000000000000000AA"]) {
      expect(configReasons(productionEnv({ TURNSTILE_SECRET_KEY: dummy })).join()).toMatch(/TURNSTILE_SECRET_KEY: Cloudflare's test secret/);
      expect(configReasons(dev({ TURNSTILE_SECRET_KEY: dummy }))).toEqual([]);
    }
  });
});

describe("the OpenAPI document", () => {
  const GUARDED = [
    ["/v1/auth/guest", "GuestBody"],
    ["/auth/guest", "GuestBody"],
    ["/v1/auth/register", "RegisterBody"],
    ["/v1/auth/login", "LoginBody"],
    ["/auth/login", "LoginBody"],
    ["/auth/signin", "SigninBody"],
    ["/v1/auth/email-code", "EmailCodeBody"],
    ["/v1/auth/forgot-password", "ForgotPasswordBody"],
    ["/auth/forgot-password", "ForgotPasswordBody"],
    ["/v1/auth/resend-verification", "ResendVerificationBody"],
    ["/v1/auth/request-deletion", "EmailBody"],
  ] as const;

  it("names captcha_required, and on every route Turnstile may guard: the header, the body field, 403 and 503", async () => {
    const document = await json(await call("/openapi.json"));
    expect(document.components.schemas.Error.properties.error.enum).toContain("captcha_required");
    const hasToken = (schema: { properties?: Record<string, unknown>; anyOf?: unknown[] }): boolean =>
      schema.properties?.turnstileToken !== undefined || (schema.anyOf ?? []).every((branch) => hasToken(branch as typeof schema));
    for (const [path, schemaName] of GUARDED) {
      const operation = document.paths[path].post;
      expect(operation.parameters, path).toContainEqual(expect.objectContaining({ name: "CF-Turnstile-Response", in: "header", required: false }));
      expect(Object.keys(operation.responses), path).toEqual(expect.arrayContaining(["403", "503"]));
      expect(operation.requestBody.content["application/json"].schema.$ref, path).toBe(`#/components/schemas/${schemaName}`);
      expect(hasToken(document.components.schemas[schemaName]), schemaName).toBe(true);
    }
    // The form: RegisterBody (turnstileToken) extended with the widget's own field name.
    const form = document.paths["/v1/auth/register"].post.requestBody.content["multipart/form-data"].schema;
    expect(form.allOf[0].$ref).toBe("#/components/schemas/RegisterBody");
    expect(Object.keys(form.allOf[1].properties)).toContain("cf-turnstile-response");
    // Routes Turnstile never guards say nothing of it.
    expect(document.paths["/v1/auth/refresh"].post.parameters ?? []).toEqual([]);
  });
});
