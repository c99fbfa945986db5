/**
 * Adversarial review of the admin API (API.md §10): what the first suite left unasserted.
 */
import { describe, expect, it } from "vitest";
import { adminCall, json, login, verifiedAccount } from "../helpers";

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
