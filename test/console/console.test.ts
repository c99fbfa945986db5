/**
 * The admin console's routes in workerd (API.md §18; the browser tests are
 * test/browser/admin-console*.test.ts): a 404 on every console path while ADMIN_API_KEY is unset;
 * the page, script and style with the key set, their types and headers (the service-wide set, none of
 * Hono's other defaults); the page holds no data and no secret; the script builds no markup from
 * strings; the user detail of §10 carries the latest activity the console shows.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { BASE, adminCall, call, freshIp, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";

const PATHS = ["/admin", "/admin/console.js", "/admin/console.css"];

async function withoutKey(path: string): Promise<Response> {
  const { ADMIN_API_KEY: _key, ...rest } = env as unknown as Record<string, unknown>;
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`, { headers: { "cf-connecting-ip": freshIp() } }), rest as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("GET /admin", () => {
  it("is a 404 on every console path while ADMIN_API_KEY is unset", async () => {
    for (const path of PATHS) {
      const response = await withoutKey(path);
      expect(response.status).toBe(404);
      expect(await json(response)).toMatchObject({ error: "not_found" });
    }
  });

  it("serves the page, its script and its style, uncached and unframable", async () => {
    const types = ["text/html; charset=UTF-8", "text/javascript; charset=utf-8", "text/css; charset=utf-8"];
    for (const [i, path] of PATHS.entries()) {
      const response = await call(path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(types[i]);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(response.headers.get("x-robots-tag")).toBe("noindex");
      // The service-wide set, and none of Hono's other defaults (HEADERS_NEVER_SENT, src/http/middleware.ts).
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("strict-transport-security")).toBe("max-age=63072000; includeSubDomains");
      for (const name of ["origin-agent-cluster", "x-xss-protection", "x-dns-prefetch-control", "x-download-options", "x-permitted-cross-domain-policies", "cross-origin-embedder-policy"]) {
        expect(response.headers.has(name), `${path} ${name}`).toBe(false);
      }
    }
    const page = await call("/admin");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; style-src 'nonce-[A-Za-z0-9+/=]+'; connect-src 'self'; img-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'$/);
    const body = await page.text();
    // The frame only: no user data, no key, nothing from another origin.
    expect(body).not.toContain((env as unknown as { ADMIN_API_KEY: string }).ADMIN_API_KEY);
    expect(body).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(body).toContain('<label for="admin-key">Admin key</label>');
    expect(body).toContain('<input id="admin-key" type="password"');
    // The key field has no name, so no form submission could ever carry it.
    expect(body).not.toMatch(/<input[^>]*id="admin-key"[^>]*name=/);
  });

  it("its script parses no markup and keeps the key in sessionStorage only", async () => {
    const script = await (await call("/admin/console.js")).text();
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|eval\(|new Function/);
    expect(script).not.toMatch(/localStorage|document\.cookie|indexedDB/);
    expect(script).toContain("sessionStorage.setItem");
  });
});

describe("GET /v1/admin/users/:userId, for the console", () => {
  it("carries the user's latest activity, newest first, at most 20", async () => {
    const account = await verifiedAccount("con-act");
    for (let i = 0; i < 22; i++) await login(account);
    const detail: Json = await json(await adminCall(`/users/${account.userId}`));
    expect(detail.activity).toHaveLength(20);
    // 22 sign-ins past the 5-session cap: sign_in and session_revoked events, the oldest (email_verified) cut off.
    expect(new Set(detail.activity.map((e: Json) => e.type))).toEqual(new Set(["sign_in", "session_revoked"]));
    expect(detail.activity.find((e: Json) => e.type === "sign_in")).toMatchObject({ method: "password" });
    const times = detail.activity.map((e: Json) => Date.parse(e.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const other = await verifiedAccount("con-other");
    const otherDetail: Json = await json(await adminCall(`/users/${other.userId}`));
    expect(otherDetail.activity.map((e: Json) => e.type)).toEqual(["email_verified"]);
  });
});
