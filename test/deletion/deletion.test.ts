/**
 * Deletion under attack (API.md §9, src/deletion/): what a deleted user's old tokens can still
 * do. Nothing: no session, no D1 row, and no storage in the erased user object, not even its empty
 * tables (an object with storage is kept, and billed, for good).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signIn } from "../../src/sessions";
import { PASSWORD, adminCall, call, expectError, login, objectStorage, refreshWith, rowsOfUser, serviceDeps, verifiedAccount } from "../helpers";

describe("a deleted user's old tokens", () => {
  it("re-create nothing in D1 or in the erased object: refresh, revoke, sign-out", async () => {
    const account = await verifiedAccount("deleted-tokens");
    const pair = await login(account);
    expect((await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken, body: { password: PASSWORD } })).status).toBe(204);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });

    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } });
    await call("/auth/signout", { body: { refresh_token: pair.refreshToken }, token: pair.accessToken });
    await expectError(await adminCall(`/users/${account.userId}/revoke-sessions`, { method: "POST" }), 404, "not_found");

    expect(Object.values(await rowsOfUser(account.userId, account.email.toLowerCase())).every((n) => n === 0)).toBe(true);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("a sign-in that lost the race to the deletion (its guard fails) leaves the erased object empty", async () => {
    const account = await verifiedAccount("deleted-signin");
    const pair = await login(account);
    expect((await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken, body: { password: PASSWORD } })).status).toBe(204);
    // What a login whose password check passed just before the deletion calls next.
    expect(await signIn(serviceDeps(), { userId: account.userId, method: "password" })).toBeNull();
    expect((await rowsOfUser(account.userId)).sessions).toBe(0);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("a refresh token made up for a user that never existed creates no object storage", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(64));
    const forged = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const hex = [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const userId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    await expectError(await refreshWith(forged), 401, "invalid_token");
    expect(await objectStorage(userId)).toEqual({ tables: [], rows: 0 });
  });
});
