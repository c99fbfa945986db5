/**
 * The HTTP edges every route shares (src/http/middleware.ts): §5 errors for 404s, bad bodies and
 * thrown errors; body limits; security headers; CORS; one log line per request; and the
 * documents around the API.
 */
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, call, expectError, json, uniqueEmail } from "../helpers";

describe("errors", () => {
  it("answers unknown routes with a JSON 404", async () => {
    await expectError(await call("/nope"), 404, "not_found");
    await expectError(await call("/v1/auth/nope", { body: {} }), 404, "not_found");
  });

  it("answers malformed JSON with a 400, never a 500", async () => {
    for (const raw of ["{", '{"email": ', "nul", "\u0000", '{"a":1}}']) {
      const response = await call("/v1/auth/login", { rawBody: raw, headers: { "content-type": "application/json" } });
      const body = await expectError(response, 400, "invalid_request");
      expect(body.details).toEqual([{ field: "body", message: "is not valid JSON" }]);
    }
  });

  it("answers a non-JSON body with a 415", async () => {
    const text = await call("/v1/auth/login", { rawBody: "email=a@b.co&password=x", headers: { "content-type": "text/plain" } });
    await expectError(text, 415, "unsupported_media_type");
    const form = await call("/v1/auth/refresh", {
      rawBody: "refresh_token=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    await expectError(form, 415, "unsupported_media_type");
  });

  it("answers an empty or non-object JSON body with field details", async () => {
    const empty = await expectError(await call("/v1/auth/login", { body: {} }), 400, "invalid_request");
    expect(empty.details.length).toBeGreaterThan(0);
    await expectError(await call("/v1/auth/login", { body: [1, 2] }), 400, "invalid_request");
    await expectError(await call("/v1/auth/login", { body: "text" }), 400, "invalid_request");
    await expectError(await call("/v1/auth/login", { body: { email: 5, password: ["x"] } }), 400, "invalid_request");
  });

  it("limits body size with a 413, with or without a Content-Length", async () => {
    const huge = JSON.stringify({ email: uniqueEmail(), password: "x".repeat(20_000) });
    await expectError(
      await call("/v1/auth/login", { rawBody: huge, headers: { "content-type": "application/json" } }),
      413,
      "payload_too_large",
    );
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(huge));
        controller.close();
      },
    });
    await expectError(
      await call("/v1/auth/login", { rawBody: stream, headers: { "content-type": "application/json" } }),
      413,
      "payload_too_large",
    );
  });
});

describe("headers", () => {
  it("sets security headers on every answer", async () => {
    for (const path of ["/health", "/nope", "/v1/auth/me"]) {
      const response = await call(path);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(response.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("allows CORS only for configured origins", async () => {
    const preflight = await call("/v1/auth/login", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const other = await call("/v1/auth/me", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("logging", () => {
  it("writes one JSON line per request with its id and route, and no secrets", async () => {
    const lines: string[] = [];
    const spies = (["log", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((line: unknown) => void lines.push(String(line))),
    );
    const email = uniqueEmail("logs");
    const response = await call("/v1/auth/register", { body: { email, password: PASSWORD } });
    spies.forEach((s) => s.mockRestore());
    const requestLines = lines.filter((l) => l.includes('"event":"request"')).map((l) => JSON.parse(l));
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      level: "info",
      method: "POST",
      route: "/v1/auth/register",
      status: 201,
      requestId: response.headers.get("x-request-id"),
    });
    const all = lines.join("\n");
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(email);
  });
});

describe("documents", () => {
  it("serves an OpenAPI 3.1 document generated from the route schemas", async () => {
    const doc = await json(await call("/openapi.json"));
    expect(doc.openapi).toBe("3.1.0");
    for (const path of ["/v1/auth/guest", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/sessions/{sessionId}", "/v1/auth/me"]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(doc.components.schemas.TokenPair.required).toContain("refreshToken");
    expect(doc.components.schemas.LoginBody).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("serves an interactive reference at /docs", async () => {
    const response = await call("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    expect(await response.text()).toContain("/openapi.json");
  });

  it("reports health", async () => {
    expect(await json(await call("/health"))).toEqual({ status: "ok" });
  });
});
