/**
 * Re-authentication of an account without a password (API.md §9: "an access token issued at most
 * 10 minutes ago … sign in again by any method"): a refresh is not a sign-in, so a token it issues
 * for a session that started long ago does not stand for a recent one.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, guest, json, refreshWith, rowsOfUser, uniqueEmail } from "../helpers";

describe("re-authentication without a password", () => {
  it("does not take a freshly refreshed token of a session that started more than 10 minutes ago", async () => {
    const pair = await guest();
    // A full account with no password (as an email code or an ID token makes one), set up directly.
    const email = uniqueEmail("reauth-refresh");
    await env.DB.prepare("UPDATE users SET is_guest = 0, email = ?, email_normalized = ?, email_verified_at = ? WHERE id = ?")
      .bind(email, email, Date.now(), pair.user.id)
      .run();
    await env.DB.prepare("UPDATE sessions SET created_at = ? WHERE id = ?").bind(Date.now() - 11 * 60_000, pair.sessionId).run();
    const refreshed = await refreshWith(pair.refreshToken);
    expect(refreshed.status).toBe(200);
    const { accessToken } = await json(refreshed);
    await expectError(await call("/v1/auth/me", { method: "DELETE", token: accessToken }), 403, "reauthentication_required");
    await expectError(
      await call("/v1/auth/change-email", { token: accessToken, body: { newEmail: uniqueEmail("reauth-new") } }),
      403,
      "reauthentication_required",
    );
    expect((await rowsOfUser(pair.user.id)).users).toBe(1);
  });
});
