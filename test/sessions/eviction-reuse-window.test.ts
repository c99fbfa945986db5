/**
 * The session limit's evictions are written by the sign-in's D1 batch (src/sessions/issue.ts),
 * not by the user's object, so the object still holds an evicted session's token state. A rotated
 * token presented again inside the reuse window is answered from the sealed successor pair without
 * any D1 read: an evicted (revoked) session must not get a 200 and a fresh pair.
 */
import { describe, expect, it } from "vitest";
import { call, expectError, json, login, refreshWith, verifiedAccount } from "../helpers";

describe("a session evicted by the limit, inside the reuse window of its last rotation", () => {
  it("gets 401 for its previous token, not the sealed pair", async () => {
    const account = await verifiedAccount("rv-evict");
    const first = await login(account);
    const rotated = await json(await refreshWith(first.refreshToken)); // adopted and rotated
    for (let i = 0; i < 5; i++) await login(account); // MAX_SESSIONS_PER_USER = 5: `first` is evicted
    await expectError(await call("/v1/auth/me", { token: rotated.accessToken }), 401, "invalid_token");
    // Fails before the fix: 200 with the sealed pair of a revoked session.
    await expectError(await refreshWith(first.refreshToken), 401, "invalid_token");
    await expectError(await refreshWith(rotated.refreshToken), 401, "invalid_token");
  });
});
