/**
 * The account-lifecycle pages as HTTP answers (the browser project drives them in Chromium): the
 * CSP nonce on every script and style, no referrer, no caching, escaped platform name, no token
 * echoed; and the OpenAPI document covering the new routes, each with an operationId.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { BASE, call, env, json } from "../helpers";

async function page(path: string, overrides: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`), { ...env, ...overrides } as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("/delete-account and /confirm-email-change", () => {
  for (const path of ["/delete-account", "/confirm-email-change"]) {
    it(`${path} carries the page headers, escapes the platform name and never echoes the token`, async () => {
      const token = "A".repeat(43);
      const response = await page(`${path}?token=${token}`, { PLATFORM_NAME: `Acme <script>alert(1)</script> & "Co"` });
      expect(response.status).toBe(200);
      const csp = response.headers.get("content-security-policy")!;
      const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
      expect(csp).toContain("form-action 'none'");
      expect(csp).toContain("connect-src 'self'");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("cache-control")).toBe("no-store");
      const text = await response.text();
      expect(text).toContain("Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;");
      expect(text).not.toContain("<script>alert(1)");
      expect(text).not.toContain(token);
      const scripts = text.match(/<script[^>]*>/g)!;
      expect(scripts).toEqual([`<script nonce="${nonce}">`]);
      expect(text).toContain("history.replaceState(null, \"\", location.pathname)");
    });
  }

  it("the OpenAPI document lists every new route with its operationId", async () => {
    const doc = await json(await call("/openapi.json"));
    const ids = (path: string, method: string) => doc.paths[path]?.[method]?.operationId;
    expect(ids("/v1/auth/me", "patch")).toBe("updateProfile");
    expect(ids("/v1/auth/me", "delete")).toBe("deleteAccount");
    expect(ids("/v1/auth/change-email", "post")).toBe("changeEmail");
    expect(ids("/v1/auth/confirm-email-change", "post")).toBe("confirmEmailChange");
    expect(ids("/v1/auth/request-deletion", "post")).toBe("requestDeletion");
    expect(ids("/v1/auth/confirm-deletion", "post")).toBe("confirmDeletion");
    expect(ids("/v1/auth/activity", "get")).toBe("listActivity");
    expect(ids("/v1/admin/users", "get")).toBe("adminSearchUsers");
    expect(ids("/v1/admin/users/{userId}", "get")).toBe("adminGetUser");
    expect(ids("/v1/admin/users/{userId}", "delete")).toBe("adminDeleteUser");
    expect(ids("/v1/admin/users/{userId}/disable", "post")).toBe("adminDisableUser");
    expect(ids("/v1/admin/users/{userId}/enable", "post")).toBe("adminEnableUser");
    expect(ids("/v1/admin/users/{userId}/revoke-sessions", "post")).toBe("adminRevokeSessions");
    // The error enum is the §5 list, with the codes these routes answer.
    expect(doc.components.schemas.Error.properties.error.enum).toEqual(expect.arrayContaining(["account_disabled", "reauthentication_required", "conflict"]));
  });
});
