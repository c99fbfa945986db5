/**
 * Routes around the API (API.md §8): health, the JWKS, the OpenAPI 3.1 document generated from the
 * route schemas, and an interactive reference (Scalar's maintained Hono middleware).
 *
 * @example
 * app.route("/", meta(app));
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import type { AppEnv } from "../http";
import { jwks } from "../tokens";

const DOCS_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src https://fonts.gstatic.com https://cdn.jsdelivr.net; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'";

export function meta(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const document = () =>
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
    });

  return new Hono<AppEnv>()
    .get("/health", (c) => c.json({ status: "ok" }))
    .get("/.well-known/jwks.json", async (c) =>
      c.json(await jwks(c.get("config")), 200, { "Cache-Control": "public, max-age=300" }),
    )
    .get("/openapi.json", (c) => c.json(document()))
    .get(
      "/docs",
      async (c, next) => {
        await next();
        c.res.headers.set("Content-Security-Policy", DOCS_CSP);
      },
      Scalar({ url: "/openapi.json", pageTitle: "Edge Auth API" }),
    );
}
