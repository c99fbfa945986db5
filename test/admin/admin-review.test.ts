/**
 * Adversarial review of the admin API (API.md §10): what the first suite left unasserted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { changeUser } from "../../src/accounts/change-user";
import { adminCall, expectError, json, login, refreshWith, serviceDeps, verifiedAccount } from "../helpers";

describe("admin search, reviewed", () => {
  it("counts each found user's live sessions, as the detail does", async () => {
    const account = await verifiedAccount("admin-count");
    await login(account);
    await login(account);
    const found = await json(await adminCall(`/users?query=${encodeURIComponent(account.email)}`));
    expect(found.users.map((u: { id: string }) => u.id)).toEqual([account.userId]);
    expect(found.users[0].sessionCount).toBe(2);
  });
});

describe("admin search wildcards, reviewed", () => {
  it("takes '_' and '%' in a query as plain characters", async () => {
    const account = await verifiedAccount("admwild");
    const local = account.email.split("@")[0]!;
    // One character swapped for "_", or the tail for "%": LIKE would match both, a prefix neither.
    const underscore = `${local.slice(0, 4)}_${local.slice(5)}`;
    const percent = `${local.slice(0, 4)}%`;
    for (const query of [underscore, percent]) {
      expect((await json(await adminCall(`/users?query=${encodeURIComponent(query)}`))).users).toEqual([]);
    }
    expect((await json(await adminCall(`/users?query=${encodeURIComponent(local)}`))).users).toHaveLength(1);
  });
});

describe("disabled accounts, reviewed", () => {
  it("refuse a refresh even when the revocation after the disable did not happen", async () => {
    const account = await verifiedAccount("adm-dis-ref");
    const pair = await login(account);
    // Only the flag (as if the revocation after it had failed): a refresh must not mint a new access
    // token, which services verifying JWTs on their own (API.md §14) would accept until it expires.
    // (Through changeUser, as every writer of users is: the session is vouched in its object from its sign-in on.)
    await changeUser(serviceDeps(), account.userId, () => env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), account.userId).run());
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    // And the session the revocation missed is ended now, so an enable does not bring it back.
    const row = await env.DB.prepare("SELECT revoked_reason FROM sessions WHERE id = ?").bind(pair.sessionId).first<{ revoked_reason: string }>();
    expect(row?.revoked_reason).toBe("disabled");
  });
});
