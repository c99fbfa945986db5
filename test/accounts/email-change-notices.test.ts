/**
 * Mail bombing through change-email notices (issue 22 item 6): the notice of a requested (or
 * completed) change goes only to a verified current address, and counts toward that address's
 * per-address mail limit (RATE_LIMIT_RECOVERY_PER_EMAIL, 3 an hour), so an account holding someone
 * else's unverified address cannot mail them at will.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, guest, json, login, mailbox, mailedToken, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";

const changeEmail = (accessToken: string, newEmail: string) => call("/v1/auth/change-email", { token: accessToken, body: { newEmail, password: PASSWORD } });
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe("change-email notices", () => {
  it("are not sent to an unverified current address, however often a change is asked for", async () => {
    const victim = uniqueEmail("notice-victim");
    const g = await guest();
    const pair = await json(await call("/v1/auth/upgrade", { token: g.accessToken, body: { email: victim, username: uniqueUsername("nv"), password: PASSWORD } }));
    const before = (await mailbox(victim, 1)).length; // the upgrade's verification mail
    for (let i = 0; i < 4; i++) expect((await changeEmail(pair.accessToken, uniqueEmail(`notice-new${i}`))).status).toBe(200);
    const next = uniqueEmail("notice-final");
    expect((await changeEmail(pair.accessToken, next)).status).toBe(200);
    expect((await call("/v1/auth/confirm-email-change", { body: { token: await mailedToken(next, "/confirm-email-change") } })).status).toBe(200);
    await settle();
    expect((await mailbox(victim, 0)).length).toBe(before);
  });

  it("go to a verified address, and count toward its limit: past it the request is 429 and mails nothing", async () => {
    const account = await verifiedAccount("notice-owner");
    const { accessToken } = await login(account);
    const before = (await mailbox(account.email, 0)).length;
    for (let i = 0; i < 3; i++) expect((await changeEmail(accessToken, uniqueEmail(`notice-ok${i}`))).status).toBe(200);
    const notices = await mailbox(account.email, before + 3);
    expect(notices.length).toBe(before + 3);
    const refused = uniqueEmail("notice-refused");
    await expectError(await changeEmail(accessToken, refused), 429, "rate_limited");
    await settle();
    expect((await mailbox(account.email, 0)).length).toBe(before + 3);
  });
});
