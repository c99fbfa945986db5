/**
 * Aliases share a bucket (API.md §6): every door of a route, in /v1/auth and in both /auth
 * documents, spends the same allowance, so switching path multiplies nothing. The same holds for
 * the per-account and per-email counters.
 */
import { describe, expect, it } from "vitest";
import type { Door } from "../helpers";
import { PASSWORD, call, expectError, expectSharedBucket, uniqueEmail, verifiedAccount } from "../helpers";

const post = (path: string, body: unknown = {}): Door => ({ path, options: { body } });
const bare = (method: string, path: string): Door => ({ path, options: { method } });
const wrongLogin = { email: "nobody@example.com", password: "wrong-password-1" };
const anyId = "00000000-0000-4000-8000-000000000000";

const BUCKETS: { bucket: string; limit: number; doors: Door[] }[] = [
  { bucket: "guest", limit: 5, doors: [bare("POST", "/v1/auth/guest"), bare("POST", "/auth/guest")] },
  { bucket: "login", limit: 5, doors: [post("/v1/auth/login", {}), post("/auth/login", {}), post("/auth/signin", {})] },
  { bucket: "refresh", limit: 5, doors: [post("/v1/auth/refresh"), post("/auth/refresh"), post("/auth/refresh-token")] },
  { bucket: "signout", limit: 2, doors: [post("/auth/signout"), post("/v1/auth/revoke"), bare("POST", "/v1/auth/revoke-all")] },
  { bucket: "upgrade", limit: 5, doors: [post("/v1/auth/upgrade"), post("/auth/upgrade")] },
  {
    bucket: "recovery",
    limit: 5,
    doors: [post("/v1/auth/forgot-password"), post("/auth/forgot-password"), post("/v1/auth/resend-verification")],
  },
  {
    bucket: "reset",
    limit: 10,
    doors: [
      post("/v1/auth/reset-password"),
      post("/auth/password-reset/nobody%40example.com"),
      post("/auth/reset-password"),
      post("/v1/auth/change-password"),
      post("/v1/auth/verify-email"),
    ],
  },
  {
    bucket: "sessions",
    limit: 60,
    doors: [
      bare("GET", "/v1/auth/sessions"),
      bare("GET", `/auth/${anyId}/sessions`),
      bare("DELETE", `/v1/auth/sessions/${anyId}`),
      bare("DELETE", `/auth/${anyId}/sessions`),
    ],
  },
];

describe("the /auth aliases share their bucket with /v1/auth", () => {
  for (const { bucket, limit, doors } of BUCKETS) {
    it(`${bucket}: ${doors.map((d) => `${d.options.method ?? "POST"} ${d.path}`).join(", ")}`, async () => {
      await expectSharedBucket(doors, limit);
    });
  }

  it("a wrong login through any door counts against the same account", async () => {
    const account = await verifiedAccount("aliases");
    const doors = ["/v1/auth/login", "/auth/login", "/auth/signin"];
    for (let i = 0; i < 10; i++) {
      const r = await call(doors[i % 3]!, { body: { ...wrongLogin, email: account.email } });
      expect(r.status, `${doors[i % 3]} #${i + 1}`).toBe(401);
    }
    for (const door of doors) await expectError(await call(door, { body: { email: account.email, password: PASSWORD } }), 429, "rate_limited");
  });

  it("recovery mails through either document count against the same address", async () => {
    const email = uniqueEmail("aliases");
    expect((await call("/auth/forgot-password", { body: { email } })).status).toBe(200);
    expect((await call("/v1/auth/forgot-password", { body: { email } })).status).toBe(200);
    expect((await call("/v1/auth/resend-verification", { body: { email } })).status).toBe(200);
    await expectError(await call("/auth/forgot-password", { body: { email } }), 429, "rate_limited");
  });
});
