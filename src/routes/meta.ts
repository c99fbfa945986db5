/**
 * Routes around the API (API.md §8): health, the JWKS, the OpenAPI 3.1 document generated from the
 * route schemas, and an interactive reference at /docs: Scalar's standalone script, served by the
 * service itself from its static assets (copied from the pinned `@scalar/api-reference` package by
 * scripts/assets.mjs), under a CSP that lets the page load nothing from elsewhere.
 *
 * @example
 * app.route("/", meta(app));
 * // GET /openapi.json → the document; GET /docs → the reference; GET /docs/scalar.js → the script
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { html } from "hono/html";
import { router } from "../http";
import type { AppEnv } from "../http";
import { jwks } from "../tokens";
import { jsonContent } from "./schemas";

/** The reference page runs Scalar's script and its small start-up script, both from this origin. */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Scalar writes its styles into <style> elements at run time.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** Scalar's configuration: the document, bearer auth first, and nothing fetched from Scalar's servers. */
const SCALAR_CONFIG = {
  url: "/openapi.json",
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  hideClientButton: true,
  defaultOpenAllTags: true,
  authentication: { preferredSecurityScheme: "bearerAuth" },
};

const Health = z.object({ status: z.literal("ok") }).openapi("Health");
const Jwks = z
  .object({
    keys: z.array(
      z
        .object({
          kty: z.string(),
          kid: z.string(),
          alg: z.string().optional(),
          use: z.string().optional(),
          crv: z.string().optional(),
          x: z.string().optional(),
          y: z.string().optional(),
        })
        .passthrough(),
    ),
  })
  .openapi("JsonWebKeySet");

/** Response headers of every route that can answer 429 (API.md §6), named once in components. */
const RATE_HEADERS = {
  "RateLimit-Limit": { description: "Requests allowed in the window of this route's bucket", schema: { type: "integer" } },
  "RateLimit-Remaining": { description: "Requests left in the current window", schema: { type: "integer" } },
  "RateLimit-Reset": { description: "Seconds until the window frees a request", schema: { type: "integer" } },
  "Retry-After": { description: "Seconds to wait before trying again (429 and 503 answers)", schema: { type: "integer" } },
} as const;

type Operation = { responses?: Record<string, { headers?: Record<string, unknown> }> };

/** Adds the RateLimit-* headers to every answer of a limited route, and Retry-After to its 429 and 503. */
function documentRateHeaders(document: { paths?: Record<string, Record<string, unknown>>; components?: Record<string, unknown> }) {
  document.components = { ...document.components, headers: RATE_HEADERS };
  const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });
  for (const item of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(item) as Operation[]) {
      const responses = operation?.responses;
      if (!responses || !responses["429"]) continue;
      for (const [status, response] of Object.entries(responses)) {
        const headers: Record<string, unknown> = { ...response.headers };
        for (const name of ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]) headers[name] = ref(name);
        if (status === "429" || status === "503") headers["Retry-After"] = ref("Retry-After");
        response.headers = headers;
      }
    }
  }
  return document;
}

export function meta(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const routes = router()
    .openapi(
      createRoute({
        method: "get", path: "/health", operationId: "health", tags: ["meta"],
        summary: "Liveness",
        responses: { 200: jsonContent(Health, "The service answers") },
      }),
      (c) => c.json({ status: "ok" as const }, 200),
    )
    .openapi(
      createRoute({
        method: "get", path: "/.well-known/jwks.json", operationId: "jwks", tags: ["meta"],
        summary: "The public keys that verify access tokens (RFC 7517)",
        responses: { 200: jsonContent(Jwks, "The current key and the previous ones still trusted") },
      }),
      async (c) => c.json((await jwks(c.get("config"))) as z.infer<typeof Jwks>, 200, { "Cache-Control": "public, max-age=300" }),
    );
  app.route("/", routes);

  const document = () =>
    documentRateHeaders(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "Edge Auth",
          version: "1.0.0",
          description:
            "Guests, accounts, rotating refresh tokens and sessions. `/v1/auth` is canonical; `/auth` serves documents 000 and 001 unchanged. Errors: `{ statusCode, error, message, details? }`.",
        },
        tags: [
          { name: "v1", description: "Canonical API (camelCase; snake_case input accepted)" },
          { name: "doc-000", description: "Compatibility: document 000 (snake_case, OAuth-style)" },
          { name: "doc-001", description: "Compatibility: document 001 (envelope)" },
          { name: "meta", description: "Health and keys" },
        ],
      }) as Parameters<typeof documentRateHeaders>[0],
    );

  return router()
    .get("/openapi.json", (c) => c.json(document()))
    .get("/docs", (c) =>
      c.html(
        html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Edge Auth API</title>
</head>
<body>
<div id="app"></div>
<noscript><p>The reference needs JavaScript. The OpenAPI document itself is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
<script src="/docs/scalar.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>`,
        200,
        { "Content-Security-Policy": DOCS_CSP },
      ),
    )
    .get("/docs/start.js", (c) =>
      c.body(`Scalar.createApiReference("#app", ${JSON.stringify(SCALAR_CONFIG)});\n`, 200, {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "public, max-age=300",
      }),
    )
    .get("/docs/scalar.js", async (c) => {
      const asset = await c.env.ASSETS.fetch(new URL("/docs/scalar-standalone.js", c.req.url));
      if (!asset.ok || !asset.body) return c.json({ statusCode: 503, error: "unavailable", message: "The reference script is not installed; run npm ci" }, 503);
      return c.body(asset.body, 200, {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "public, max-age=3600",
      });
    });
}
