/**
 * A disabled account escapes its block (issue 22 item 4): its mailed deletion is refused with 403
 * `account_disabled`, the account (and its `account_disabled` record) stays, and its address cannot
 * sign up again. Only an administrator deletes it. A disabled account is mailed no deletion link.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, expectError, mailbox, mailedToken, verifiedAccount } from "../helpers";
import { countActivity } from "../helpers/activity";

describe("the mailed deletion of a disabled account", () => {
  it("answers 403 account_disabled and deletes nothing; the address stays taken; an administrator can delete it", async () => {
    const account = await verifiedAccount("disabled-delete");
    const before = (await mailbox(account.email, 0)).length;
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/delete-account", before + 1);
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);

    await expectError(await call("/v1/auth/confirm-deletion", { body: { token } }), 403, "account_disabled");
    const row = await env.DB.prepare("SELECT disabled_at FROM users WHERE id = ?").bind(account.userId).first<{ disabled_at: number | null }>();
    expect(row?.disabled_at).not.toBeNull();
    expect(await countActivity(account.userId, "account_disabled")).toBe(1);
    await expectError(await call("/v1/auth/register", { body: { email: account.email, password: PASSWORD } }), 409, "conflict");

    // Asking again mails nothing: the link could not work.
    const mailed = (await mailbox(account.email, 0)).length;
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await mailbox(account.email, 0)).length).toBe(mailed);

    // Enabled again, the same link works (it was not spent by the refusal).
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    expect((await call("/v1/auth/confirm-deletion", { body: { token } })).status).toBe(200);
    expect(await env.DB.prepare("SELECT id FROM users WHERE id = ?").bind(account.userId).first()).toBeNull();
  });

  it("an administrator deletes a disabled account", async () => {
    const account = await verifiedAccount("disabled-admin");
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    expect(await env.DB.prepare("SELECT id FROM users WHERE id = ?").bind(account.userId).first()).toBeNull();
  });
});
