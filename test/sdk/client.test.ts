/**
 * edge-auth/client against the real service over HTTP: every wrapped /v1/auth route, the session it
 * keeps, and errors as EdgeAuthError with API.md §5 codes.
 */
import { describe, expect, it } from "vitest";
import { EdgeAuthError, memoryStorage } from "../../sdk/client";
import type { Session } from "../../sdk/client";
import { NEW_PASSWORD, PASSWORD, client, mailedToken, signedInUser, uniqueEmail } from "./helpers";

describe("every /v1/auth route", () => {
  it("guest, upgrade, me, logout: the guest keeps its id and the session follows", async () => {
    const { auth } = client();
    const changes: (Session | null)[] = [];
    auth.onChange((session) => changes.push(session));
    const guest = await auth.guest();
    expect(guest.user.isGuest).toBe(true);
    expect(auth.session).toMatchObject({ accessToken: guest.accessToken, refreshToken: guest.refreshToken, sessionId: guest.sessionId, user: guest.user });
    expect(auth.session!.expiresAt).toBeGreaterThan(Date.now() + 3500_000);

    const email = uniqueEmail("sdk-upgrade");
    const upgraded = await auth.upgrade({ email, username: `u${crypto.randomUUID().slice(0, 8)}`, password: PASSWORD });
    expect(upgraded.user).toMatchObject({ id: guest.user.id, isGuest: false, email });
    expect(auth.session?.accessToken).toBe(upgraded.accessToken);

    const { user } = await auth.me();
    expect(user.id).toBe(guest.user.id);
    expect(await auth.logout()).toBe(true);
    expect(auth.session).toBeNull();
    expect(changes.map((s) => s?.user?.isGuest ?? null)).toEqual([true, false, false, null]);
  });

  it("register, verifyEmail, resendVerification, login, changePassword, sessions.list/delete, logoutAll", async () => {
    const { auth } = client();
    const email = uniqueEmail("sdk-account");
    const registered = await auth.register({ email, password: PASSWORD });
    expect(registered).toMatchObject({ verificationRequired: true, user: { email, emailVerified: false } });
    expect(registered.accessToken).toBeUndefined();
    expect(auth.session).toBeNull();

    const login401 = await auth.login({ email, password: PASSWORD }).catch((e: unknown) => e);
    expect(login401).toBeInstanceOf(EdgeAuthError);
    expect(login401).toMatchObject({ status: 401, code: "email_not_verified" });

    expect((await auth.resendVerification({ email })).message).toMatch(/verification/);
    const verified = await auth.verifyEmail({ token: await mailedToken(email, "/verify-email", 2) });
    expect(verified.user).toMatchObject({ email, emailVerified: true });

    const first = await auth.login({ email, password: PASSWORD });
    const other = client();
    const second = await other.auth.login({ email, password: PASSWORD });
    const { sessions } = await auth.sessions.list();
    expect(sessions.map((s) => s.id).sort()).toEqual([first.sessionId, second.sessionId].sort());
    expect(sessions.find((s) => s.current)?.id).toBe(first.sessionId);

    await auth.sessions.delete({ sessionId: second.sessionId });
    const gone = await other.auth.me().catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 401, code: "invalid_token" });
    expect(other.auth.session).toBeNull(); // its refresh answered 401: the session is over

    const changed = await auth.changePassword({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(changed.user.id).toBe(first.user.id);
    const third = client();
    await third.auth.login({ email, password: NEW_PASSWORD });

    await auth.logoutAll();
    expect(auth.session).toBeNull();
    expect(await third.auth.me().catch((e: unknown) => e)).toMatchObject({ code: "invalid_token" });
  });

  it("forgotPassword and resetPassword", async () => {
    const { auth, email } = await signedInUser("sdk-reset");
    const anonymous = client().auth;
    expect((await anonymous.forgotPassword({ email })).message).toMatch(/reset link/);
    expect((await anonymous.forgotPassword({ email: uniqueEmail("nobody") })).message).toMatch(/reset link/);
    const token = await mailedToken(email, "/reset-password");
    const reset = await anonymous.resetPassword({ email, token, newPassword: NEW_PASSWORD });
    expect(reset.user.email).toBe(email);
    // A reset ends every session: the signed-in client finds out at its next call.
    expect(await auth.me().catch((e: unknown) => e)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(auth.session).toBeNull();
    await anonymous.login({ email, password: NEW_PASSWORD });
    expect(anonymous.session?.user?.email).toBe(email);
  });

  it("refresh() rotates the pair and keeps the session id and the profile", async () => {
    const { auth, net } = client();
    const guest = await auth.guest();
    const rotated = await auth.refresh();
    expect(rotated.refreshToken).not.toBe(guest.refreshToken);
    expect(rotated).toMatchObject({ sessionId: guest.sessionId, user: guest.user });
    expect(net.count("/v1/auth/refresh")).toBe(1);
  });
});

describe("errors", () => {
  it("are EdgeAuthError with the §5 code, details and Retry-After", async () => {
    const { auth } = client();
    const invalid = await auth.register({ email: "not-an-email", password: PASSWORD }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(EdgeAuthError);
    expect(invalid).toMatchObject({ status: 400, code: "invalid_request", details: [expect.objectContaining({ field: "email" })] });

    const wrong = await auth.login({ email: uniqueEmail("nobody"), password: PASSWORD }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ status: 401, code: "invalid_credentials" });

    const signedOut = await auth.me().catch((e: unknown) => e);
    expect(signedOut).toMatchObject({ status: 401, code: "invalid_token" });

    // The guest bucket allows 5 an hour per address: the 6th is 429 with Retry-After.
    const outcomes = [];
    for (let i = 0; i < 6; i++) outcomes.push(await auth.guest().then(() => "ok", (e: unknown) => e));
    const limited = outcomes.at(-1) as EdgeAuthError;
    expect(limited).toBeInstanceOf(EdgeAuthError);
    expect(limited).toMatchObject({ status: 429, code: "rate_limited" });
    expect(limited.retryAfter).toBeGreaterThan(0);
  });

  it("a request that never got an answer is status 0, code unavailable", async () => {
    const { auth, net } = client({ storage: memoryStorage() });
    net.offline();
    const error = await auth.guest().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeAuthError);
    expect(error).toMatchObject({ status: 0, code: "unavailable" });
  });
});
