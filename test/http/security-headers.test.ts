/**
 * The security headers of every answer (securityHeaders in src/http/middleware.ts, through
 * hono/secure-headers): exactly the set SECURITY.md lists, with a route's own CSP kept.
 */
import { describe, expect, it } from "vitest";
import { call } from "../helpers";

const EXPECTED = {
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
};

describe("security headers", () => {
  it("an API answer carries exactly these, and none of Hono's other defaults", async () => {
    for (const response of [await call("/v1/auth/me"), await call("/v1/no-such-route"), await call("/v1/auth/guest", { method: "POST" })]) {
      for (const [name, value] of Object.entries(EXPECTED)) expect(response.headers.get(name), name).toBe(value);
      for (const name of ["origin-agent-cluster", "x-xss-protection", "x-dns-prefetch-control", "x-download-options", "x-permitted-cross-domain-policies", "cross-origin-embedder-policy"]) {
        expect(response.headers.has(name), name).toBe(false);
      }
    }
  });

  it("keeps a Content-Security-Policy a route set itself", async () => {
    const response = await call("/docs");
    expect(response.headers.get("content-security-policy")).not.toBe(EXPECTED["content-security-policy"]);
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });
});
