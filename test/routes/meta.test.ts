/**
 * The routes around the API (API.md §8) and the fidelity of the OpenAPI document: every operation
 * named, /health and the JWKS in it, the rate-limit headers documented, the error enum equal to
 * §5's list, document 000's bodies in its own spelling; and /docs served from the service alone.
 */
import { describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/http/errors";
import { call, json } from "../helpers";

const METHODS = ["get", "post", "put", "patch", "delete"];

async function openapi(): Promise<Json> {
  const response = await call("/openapi.json");
  expect(response.status).toBe(200);
  return json(response);
}
type Json = Awaited<ReturnType<typeof json>>;

function operations(document: Json): [string, string, Json][] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m): [string, string, Json] => [path, m, item[m]]),
  );
}

describe("the OpenAPI document", () => {
  it("names every operation with a unique operationId", async () => {
    const ops = operations(await openapi());
    expect(ops.length).toBeGreaterThan(25);
    const missing = ops.filter(([, , op]) => typeof op.operationId !== "string").map(([p, m]) => `${m} ${p}`);
    expect(missing).toEqual([]);
    const ids = ops.map(([, , op]) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("describes /health and /.well-known/jwks.json", async () => {
    const document = await openapi();
    expect(document.paths["/health"].get.operationId).toBe("health");
    expect(document.paths["/.well-known/jwks.json"].get.responses["200"]).toBeDefined();
  });

  it("documents RateLimit-* on every answer of a limited route, and Retry-After on its 429", async () => {
    const document = await openapi();
    expect(Object.keys(document.components.headers).sort()).toEqual(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"]);
    const login = document.paths["/v1/auth/login"].post.responses;
    expect(Object.keys(login["200"].headers).sort()).toEqual(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]);
    expect(login["429"].headers["Retry-After"]).toEqual({ $ref: "#/components/headers/Retry-After" });
    for (const [path, method, op] of operations(document)) {
      if (!op.responses["429"]) continue;
      expect(op.responses["429"].headers?.["Retry-After"], `${method} ${path}`).toBeDefined();
    }
  });

  it("has the error enum of API.md §5 exactly", async () => {
    const document = await openapi();
    expect(document.components.schemas.Error.properties.error.enum).toEqual(Object.keys(ERROR_STATUS));
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([
      "account_disabled", "captcha_required", "conflict", "email_not_verified", "forbidden", "internal", "invalid_credentials", "invalid_request",
      "invalid_token", "mfa_required", "not_found", "payload_too_large", "rate_limited", "reauthentication_required", "unavailable",
      "unsupported_media_type",
    ]);
  });

  it("spells document 000's bodies as the document does, and LoginBody as email or username", async () => {
    const document = await openapi();
    const schemas = document.components.schemas;
    expect(Object.keys(schemas.RefreshWithAccessBody.properties).sort()).toEqual(["access_token", "refresh_token"]);
    expect(schemas.RefreshWithAccessBody.required.sort()).toEqual(["access_token", "refresh_token"]);
    expect(schemas.UpgradeBody000.properties.profile_picture).toBeDefined();
    expect(schemas.SignoutBody.properties.refresh_token).toBeDefined();
    expect(schemas.LoginBody.anyOf.map((branch: Json) => branch.required.sort())).toEqual([
      ["email", "password"],
      ["password", "username"],
    ]);
  });
});

describe("/docs", () => {
  it("loads Scalar from the service itself under a CSP that allows nothing else", async () => {
    const page = await call("/docs");
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:/);
    const text = await page.text();
    expect(text).not.toMatch(/https?:\/\//);
    const script = await call("/docs/scalar.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.text()).length).toBeGreaterThan(1_000_000);
    expect(await (await call("/docs/start.js")).text()).toContain('"withDefaultFonts":false');
  });

  it("serves no other asset path", async () => {
    expect((await call("/docs/scalar-standalone.js")).status).toBe(404);
    expect((await call("/scalar-standalone.js")).status).toBe(404);
  });
});
