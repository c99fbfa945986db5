/**
 * Upgrading a guest in place (with a picture by URL or upload to R2) and changing a password.
 */
import { describe, expect, it } from "vitest";
import {
  PASSWORD, advanceUserClock, call, claims, env, expectError, guest, json, login, mailbox, mailedToken, refreshWith, uniqueEmail,
  uniqueUsername, verifiedAccount,
} from "../helpers";

const DAY = 86_400_000;
const me = (accessToken: string) => call("/v1/auth/me", { token: accessToken });

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

const upgradeBody = () => ({ email: uniqueEmail("up"), username: uniqueUsername("up"), password: PASSWORD });

describe("upgrade", () => {
  it("turns a guest into a full account in place, with a new pair and a verification mail", async () => {
    const g = await guest();
    const body = upgradeBody();
    const response = await call("/v1/auth/upgrade", { token: g.accessToken, body: { ...body, profilePicture: "https://cdn.example.com/a.png" } });
    expect(response.status).toBe(201);
    const pair = await json(response);
    expect(pair.user).toMatchObject({
      id: g.user.id,
      isGuest: false,
      email: body.email,
      username: body.username,
      emailVerified: false,
      profilePicture: "https://cdn.example.com/a.png",
    });
    expect(pair.sessionId).toBe(g.sessionId);
    expect(claims(pair.accessToken)).toMatchObject({ sub: g.user.id, role: "user" });
    expect(pair.refreshExpiresIn).toBe(30 * 86_400);
    expect((await mailbox(body.email))[0]?.text).toContain("/verify-email?token=");

    // The guest's old refresh token is spent; the new one works and keeps role user.
    await expectError(await refreshWith(g.refreshToken), 401, "invalid_token");
    const refreshed = await json(await refreshWith(pair.refreshToken));
    expect(claims(refreshed.accessToken).role).toBe("user");
    expect(refreshed.refreshExpiresIn).toBe(30 * 86_400);
  });

  it("refuses a full account, taken identities and a missing token", async () => {
    const account = await verifiedAccount("upfull");
    const full = await login(account);
    await expectError(await call("/v1/auth/upgrade", { token: full.accessToken, body: upgradeBody() }), 403, "forbidden");
    const g = await guest();
    await expectError(
      await call("/v1/auth/upgrade", { token: g.accessToken, body: { ...upgradeBody(), email: account.email } }),
      409,
      "conflict",
    );
    await expectError(
      await call("/v1/auth/upgrade", { token: g.accessToken, body: { ...upgradeBody(), username: account.username } }),
      409,
      "conflict",
    );
    await expectError(await call("/v1/auth/upgrade", { body: upgradeBody() }), 401, "invalid_token");
    // The failed attempts changed nothing: the guest is still a guest and can still upgrade.
    expect((await json(await call("/v1/auth/me", { token: g.accessToken }))).user.isGuest).toBe(true);
    expect((await call("/v1/auth/upgrade", { token: g.accessToken, body: upgradeBody() })).status).toBe(201);
    // A second upgrade of the same (now full) account is refused.
    await expectError(await call("/v1/auth/upgrade", { token: g.accessToken, body: upgradeBody() }), 403, "forbidden");
  });

  it("never lets extra fields set the id, role or verification", async () => {
    const g = await guest();
    const response = await call("/v1/auth/upgrade", {
      token: g.accessToken,
      body: { ...upgradeBody(), id: crypto.randomUUID(), role: "admin", emailVerified: true, email_verified_at: 1, is_guest: true },
    });
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: g.user.id, emailVerified: false, isGuest: false });
    expect(claims(pair.accessToken).role).toBe("user");
  });

  it("stores an uploaded picture in R2 and serves it", async () => {
    const g = await guest();
    const form = new FormData();
    for (const [k, v] of Object.entries(upgradeBody())) form.append(k, v);
    form.append("profile_picture", new File([PNG], "me.txt", { type: "text/plain" }));
    const response = await call("/v1/auth/upgrade", { token: g.accessToken, rawBody: form });
    expect(response.status).toBe(201);
    const { user } = await json(response);
    expect(user.profilePicture).toMatch(/^http:\/\/auth\.test\/v1\/auth\/avatars\/[0-9a-f-]{36}\.png$/);
    const served = await call(new URL(user.profilePicture).pathname);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(PNG);
    const key = user.profilePicture.split("/").pop();
    expect(await env.AVATARS.head(key)).not.toBeNull();
  });

  it("checks uploads by their bytes and size", async () => {
    const g = await guest();
    const notImage = new FormData();
    for (const [k, v] of Object.entries(upgradeBody())) notImage.append(k, v);
    notImage.append("profilePicture", new File(["<svg onload=alert(1)>"], "x.png", { type: "image/png" }));
    await expectError(await call("/v1/auth/upgrade", { token: g.accessToken, rawBody: notImage }), 400, "invalid_request");

    const big = new FormData();
    for (const [k, v] of Object.entries(upgradeBody())) big.append(k, v);
    const bytes = new Uint8Array(2 * 1024 * 1024 + 1);
    bytes.set(PNG);
    big.append("profilePicture", new File([bytes], "big.png", { type: "image/png" }));
    await expectError(await call("/v1/auth/upgrade", { token: g.accessToken, rawBody: big }), 413, "payload_too_large");
    expect((await json(await call("/v1/auth/me", { token: g.accessToken }))).user.isGuest).toBe(true);
  });

  it("registers with an uploaded picture too", async () => {
    const form = new FormData();
    form.append("email", uniqueEmail("regpic"));
    form.append("password", PASSWORD);
    form.append("profilePicture", new File([PNG], "p.png"));
    const response = await call("/v1/auth/register", { rawBody: form });
    expect(response.status).toBe(201);
    expect((await json(response)).user.profilePicture).toMatch(/\/v1\/auth\/avatars\/.+\.png$/);
    await expectError(await call("/v1/auth/avatars/..%2F..%2Fetc", {}), 404, "not_found");
  });
});

describe("change password", () => {
  it("changes the password with the current one, keeping other sessions by default", async () => {
    const account = await verifiedAccount("chpw");
    const a = await login(account);
    const b = await login(account);
    const newPassword = "a-brand-new-passphrase-7";
    const response = await call("/v1/auth/change-password", {
      token: a.accessToken,
      body: { currentPassword: account.password, newPassword },
    });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
    expect((await call("/v1/auth/me", { token: b.accessToken })).status).toBe(200);
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: account.password } }), 401, "invalid_credentials");
    await login({ email: account.email, password: newPassword });
    expect((await mailbox(account.email, 2)).some((m) => /password was changed/i.test(m.subject))).toBe(true);
  });

  it("revokes the other sessions when asked, keeping the current one", async () => {
    const account = await verifiedAccount("chpw2");
    const a = await login(account);
    const b = await login(account);
    const response = await call("/v1/auth/change-password", {
      token: a.accessToken,
      body: { current_password: account.password, new_password: "another-good-passphrase-8", revoke_other_sessions: true },
    });
    expect(response.status).toBe(200);
    expect((await call("/v1/auth/me", { token: a.accessToken })).status).toBe(200);
    await expectError(await call("/v1/auth/me", { token: b.accessToken }), 401, "invalid_token");
    await expectError(await refreshWith(b.refreshToken), 401, "invalid_token");
  });

  it("refuses guests, a wrong current password, a weak or unchanged new one", async () => {
    const g = await guest();
    await expectError(
      await call("/v1/auth/change-password", { token: g.accessToken, body: { currentPassword: "x", newPassword: "another-good-passphrase-8" } }),
      403,
      "forbidden",
    );
    const account = await verifiedAccount("chpw3");
    const a = await login(account);
    await expectError(
      await call("/v1/auth/change-password", { token: a.accessToken, body: { currentPassword: "wrong-password-1", newPassword: "another-good-passphrase-8" } }),
      401,
      "invalid_credentials",
    );
    await expectError(
      await call("/v1/auth/change-password", { token: a.accessToken, body: { currentPassword: account.password, newPassword: "12345678" } }),
      400,
      "invalid_request",
    );
    await expectError(
      await call("/v1/auth/change-password", { token: a.accessToken, body: { currentPassword: account.password, newPassword: account.password } }),
      400,
      "invalid_request",
    );
    await login(account);
  });
});

describe("upgrading a long-lived guest", () => {
  // Guests never expire (API.md §1), so a guest session may be older than SESSION_MAX_DAYS. Its
  // lifetime as a full account starts at the upgrade: the pair must work (API.md §3, upgrade → 201).
  it("answers 201 with a pair that works, not one that is already expired", async () => {
    const g = await guest();
    // 400 days on, for the user's object (which keeps the session's start and computes expiries).
    await advanceUserClock(g.user.id, 400 * DAY);
    // The guest's session is still perfectly live: guests have no time limit.
    expect((await me(g.accessToken)).status).toBe(200);

    const response = await call("/v1/auth/upgrade", {
      token: g.accessToken,
      body: { email: uniqueEmail("old-guest"), username: uniqueUsername("og"), password: PASSWORD },
    });
    expect(response.status).toBe(201);
    const pair = await json(response);
    expect(pair.user.id).toBe(g.user.id);
    expect(pair.refreshExpiresIn).toBeGreaterThan(0);
    expect((await me(pair.accessToken)).status).toBe(200);
    expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });
});

describe("parallel upgrades of one guest", () => {
  // The loser of two concurrent upgrades gets 403 and must change nothing: in particular it must
  // not void the verification token just mailed to the winner.
  it("leaves the winner's mailed verification link working", async () => {
    const g = await guest();
    const emails = [uniqueEmail("par-up-a"), uniqueEmail("par-up-b")];
    const responses = await Promise.all(
      emails.map((email) => call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("pu"), password: PASSWORD } })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.sort()).toEqual([201, 403]);
    const winner = emails[responses.findIndex((r) => r.status === 201)]!;
    const token = await mailedToken(winner, "/verify-email");
    const verified = await call("/v1/auth/verify-email", { body: { token } });
    expect(verified.status).toBe(200);
    expect((await json(verified)).user.emailVerified).toBe(true);
  });
});
