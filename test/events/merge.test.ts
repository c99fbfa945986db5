/**
 * A guest signing into an existing account (API.md §16): `POST /v1/auth/login` with the guest's
 * Bearer token answers the account's TokenPair; in the same batch the guest's sessions and user go
 * and `user.merged { guest: { id }, user }` is written; the guest's tokens stop working at once.
 * A refused login changes nothing; a full account's token is ignored; §11 keeps its 409.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, guest, json, objectStorage, refreshWith, rowsOfUser, verifiedAccount } from "../helpers";
import { eventRows, eventTypes } from "./helpers";

const gone = (rows: Record<string, number>) => Object.values(rows).every((n) => n === 0);

describe("login with a guest's token merges the guest", () => {
  it("signs into the account, ends the guest, and writes user.merged", async () => {
    const account = await verifiedAccount("merge");
    const pair = await guest();
    // The guest refreshed once, so its object holds state too.
    const refreshed = await json(await refreshWith(pair.refreshToken));
    const response = await call("/v1/auth/login", { token: refreshed.accessToken, body: { email: account.email, password: PASSWORD } });
    expect(response.status).toBe(200);
    const signedIn = await json(response);
    expect(signedIn.user).toMatchObject({ id: account.userId, isGuest: false });

    // The guest is gone: rows, object storage, and every token.
    expect(gone(await rowsOfUser(pair.user.id))).toBe(true);
    expect(await objectStorage(pair.user.id)).toEqual({ tables: [], rows: 0 });
    await expectError(await call("/v1/auth/me", { token: refreshed.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(refreshed.refreshToken), 401, "invalid_token");
    // The account's new session works.
    expect((await call("/v1/auth/me", { token: signedIn.accessToken })).status).toBe(200);

    const rows = await eventRows(pair.user.id);
    expect(rows.map((r) => r.type)).toEqual(["user.created", "user.merged"]);
    expect(rows[1]!.data).toEqual({ guest: { id: pair.user.id }, user: signedIn.user });
    // No user.deleted for the guest: user.merged says it all.
    expect(await eventTypes(`"id":"${pair.user.id}"}`)).not.toContain("user.deleted");
  });

  it("a wrong password changes nothing: the guest and its session live on, no event", async () => {
    const account = await verifiedAccount("nomerge");
    const pair = await guest();
    await expectError(await call("/v1/auth/login", { token: pair.accessToken, body: { email: account.email, password: "not-the-password-9" } }), 401, "invalid_credentials");
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect(await eventTypes(pair.user.id)).toEqual(["user.created"]);
  });

  it("a disabled account answers 403 and the guest stays", async () => {
    const account = await verifiedAccount("disabledmerge");
    const { adminCall } = await import("../helpers");
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    const pair = await guest();
    await expectError(await call("/v1/auth/login", { token: pair.accessToken, body: { email: account.email, password: PASSWORD } }), 403, "account_disabled");
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect(await eventTypes(pair.user.id)).toEqual(["user.created"]);
  });

  it("a full account's token is ignored: both accounts stay, no user.merged", async () => {
    const first = await verifiedAccount("first");
    const second = await verifiedAccount("second");
    const firstPair = await json(await call("/v1/auth/login", { body: { email: first.email, password: PASSWORD } }));
    const response = await call("/v1/auth/login", { token: firstPair.accessToken, body: { email: second.email, password: PASSWORD } });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(second.userId);
    expect((await call("/v1/auth/me", { token: firstPair.accessToken })).status).toBe(200);
    expect(await eventTypes(first.userId)).toEqual(["user.created", "user.updated"]);
  });

  it("an ended guest token is a 401, not a silent sign-in that strands the guest", async () => {
    const account = await verifiedAccount("ended");
    const pair = await guest();
    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBe(204);
    await expectError(await call("/v1/auth/login", { token: pair.accessToken, body: { email: account.email, password: PASSWORD } }), 401, "invalid_token");
  });

  it("email code and ID token keep their 409 for a guest's token meeting an existing account", async () => {
    const account = await verifiedAccount("keep409");
    const pair = await guest();
    expect((await call("/v1/auth/email-code", { body: { email: account.email } })).status).toBe(200);
    const { mailbox } = await import("../helpers");
    const [message] = (await mailbox(account.email, 2)).filter((m) => /sign-in code is/.test(m.text));
    const code = /sign-in code is (\d{6})/.exec(message!.text)![1]!;
    await expectError(await call("/v1/auth/email-code/verify", { token: pair.accessToken, body: { email: account.email, code } }), 409, "conflict");
    expect(await eventTypes(pair.user.id)).toEqual(["user.created"]);
  });
});
