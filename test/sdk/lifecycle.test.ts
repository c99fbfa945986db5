/**
 * edge-auth/client's account lifecycle methods (API.md §9) against the real service over HTTP:
 * updateProfile, changeEmail + confirmEmailChange, deleteAccount, requestDeletion + confirmDeletion
 * and activity.list, each through the mail the dev outbox holds where a link is mailed.
 */
import { describe, expect, it } from "vitest";
import { EdgeAuthError } from "../../sdk/client";
import type { ActivityEvent, Session } from "../../sdk/client";
import type { ClientOptions } from "../../sdk/client";
import { PASSWORD, client, mailbox, mailedToken, network, serviceUrl, signedInUser, uniqueEmail } from "./helpers";

/** A client network (see `network`) that also records each request's full URL and body. */
function recording() {
  const net = network();
  const sent: { method: string; url: URL; body: string }[] = [];
  const fetch: ClientOptions["fetch"] = async (input, init) => {
    const request = new Request(input, init);
    sent.push({ method: request.method, url: new URL(request.url), body: await request.clone().text() });
    return net.fetch(request);
  };
  return { fetch, sent };
}

/** The service's own answer to a raw Bearer call, bypassing the client. */
const meWith = (accessToken: string) =>
  fetch(`${serviceUrl}/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" } });
const refreshWith = (refreshToken: string) =>
  fetch(`${serviceUrl}/v1/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ refreshToken }),
  });

describe("account lifecycle (API.md §9)", () => {
  it("updateProfile changes the username and picture, and the session's user follows", async () => {
    const { auth } = await signedInUser("sdk-profile");
    const changes: (Session | null)[] = [];
    auth.onChange((session) => changes.push(session));
    const username = `p${crypto.randomUUID().slice(0, 8)}`;
    const { user } = await auth.updateProfile({ username, profilePicture: "https://example.com/me.png" });
    expect(user).toMatchObject({ username, profilePicture: "https://example.com/me.png" });
    expect(auth.session?.user).toMatchObject({ username, profilePicture: "https://example.com/me.png" });
    expect(changes.at(-1)?.user?.username).toBe(username);

    const cleared = await auth.updateProfile({ profilePicture: null });
    expect(cleared.user).toMatchObject({ username, profilePicture: null });
    expect((await auth.me()).user.profilePicture).toBeNull();

    // Another account cannot take the name: 409, as EdgeAuthError.
    const other = await signedInUser("sdk-profile-other");
    const taken = await other.auth.updateProfile({ username }).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(EdgeAuthError);
    expect(taken).toMatchObject({ status: 409 });
  });

  it("changeEmail mails a link to the new address; confirmEmailChange moves the account there", async () => {
    const { auth, email } = await signedInUser("sdk-change-email");
    const newEmail = uniqueEmail("sdk-changed");
    expect((await auth.changeEmail({ newEmail, password: PASSWORD })).message).toMatch(/confirmation link/);
    // Until confirmed, the old address still signs in.
    await client().auth.login({ email, password: PASSWORD });

    const { user } = await auth.confirmEmailChange({ token: await mailedToken(newEmail, "/confirm-email-change") });
    expect(user).toMatchObject({ email: newEmail, emailVerified: true });
    // Same user as the session's: the client's profile follows, and the session is kept.
    expect(auth.session?.user?.email).toBe(newEmail);
    expect((await auth.me()).user.email).toBe(newEmail);
    // The old address got both notices (mail goes out after the answer: wait for it).
    await expect.poll(async () => (await mailbox(email)).map((m) => m.subject).join("\n"), { timeout: 10_000 }).toMatch(
      /email was changed[\s\S]*change of your .* email was requested/,
    );

    const signIn = client().auth;
    expect(await signIn.login({ email, password: PASSWORD }).catch((e: unknown) => e)).toMatchObject({ status: 401 });
    expect((await signIn.login({ email: newEmail, password: PASSWORD })).user.id).toBe(user.id);
  });

  it("changeEmail with a wrong password is a 401 and mails nothing", async () => {
    const { auth } = await signedInUser("sdk-change-email-wrong");
    const newEmail = uniqueEmail("sdk-never");
    const wrong = await auth.changeEmail({ newEmail, password: "not-the-password-1" }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ status: 401, code: "invalid_credentials" });
    expect(auth.session).not.toBeNull(); // a failed re-authentication is not a dead session
    expect((await auth.me()).user.email).not.toBe(newEmail);
    expect(await mailbox(newEmail)).toEqual([]);
  });

  it("deleteAccount sends the password in a DELETE body, clears the session, fires onChange; the tokens are refused", async () => {
    const { fetch, sent } = recording();
    const { auth, email } = await signedInUser("sdk-delete", { fetch });
    const { accessToken, refreshToken } = auth.session!;
    const changes: (Session | null)[] = [];
    auth.onChange((session) => changes.push(session));

    const wrong = await auth.deleteAccount({ password: "not-the-password-1" }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ status: 401, code: "invalid_credentials" });
    expect(auth.session?.accessToken).toBe(accessToken);
    expect(changes).toEqual([]);

    expect(await auth.deleteAccount({ password: PASSWORD })).toBeUndefined();
    const deletes = sent.filter((r) => r.method === "DELETE" && r.url.pathname === "/v1/auth/me");
    expect(deletes.map((r) => JSON.parse(r.body) as unknown)).toEqual([{ password: "not-the-password-1" }, { password: PASSWORD }]);
    expect(auth.session).toBeNull();
    expect(changes).toEqual([null]);
    expect((await meWith(accessToken)).status).toBe(401);
    expect((await refreshWith(refreshToken)).status).toBe(401);
    expect(await auth.me().catch((e: unknown) => e)).toMatchObject({ status: 401, code: "invalid_token" });
    // The address is free at once.
    expect((await client().auth.register({ email, password: PASSWORD })).user.email).toBe(email);
  });

  it("deleteAccount() takes no input for a guest (no password to give)", async () => {
    const { auth } = client();
    const guest = await auth.guest();
    await auth.deleteAccount();
    expect(auth.session).toBeNull();
    expect((await meWith(guest.accessToken)).status).toBe(401);
  });

  it("requestDeletion mails a link (the same answer for an unknown address); confirmDeletion deletes", async () => {
    const { auth, email } = await signedInUser("sdk-request-deletion");
    const anonymous = client().auth;
    const known = await anonymous.requestDeletion({ email });
    const unknown = await anonymous.requestDeletion({ email: uniqueEmail("sdk-nobody") });
    expect(known.message).toBe(unknown.message);

    const token = await mailedToken(email, "/delete-account");
    expect((await anonymous.confirmDeletion({ token })).message).toMatch(/deleted/);
    // The signed-in client finds out at its next call: the account is gone.
    expect(await auth.me().catch((e: unknown) => e)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(auth.session).toBeNull();
    expect(await anonymous.login({ email, password: PASSWORD }).catch((e: unknown) => e)).toMatchObject({ status: 401 });
    // A used link does not delete twice.
    expect(await anonymous.confirmDeletion({ token }).catch((e: unknown) => e)).toBeInstanceOf(EdgeAuthError);
  });

  it("activity.list pages the caller's events newest first with limit and the before cursor", async () => {
    const { fetch, sent } = recording();
    const { auth, email } = await signedInUser("sdk-activity", { fetch });
    await auth.updateProfile({ username: `a${crypto.randomUUID().slice(0, 8)}` });
    await client().auth.login({ email, password: "not-the-password-1" }).catch(() => undefined);
    await client().auth.login({ email, password: PASSWORD });

    const all = await auth.activity.list();
    expect(all.nextCursor).toBeNull();
    const types = all.events.map((e) => e.type);
    expect(types.filter((t) => t === "sign_in")).toHaveLength(2);
    expect(types).toContain("sign_in_failed");
    expect(types).toContain("email_verified");
    const times = all.events.map((e) => Date.parse(e.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all.events.find((e) => e.type === "sign_in")?.method).toBe("password");

    const paged: ActivityEvent[] = [];
    let before: string | undefined;
    for (let page = 0; page < 20; page++) {
      const { events, nextCursor } = await auth.activity.list({ limit: 2, before });
      expect(events.length).toBeLessThanOrEqual(2);
      paged.push(...events);
      if (!nextCursor) break;
      before = nextCursor;
    }
    expect(paged.map((e) => e.id)).toEqual(all.events.map((e) => e.id));
    // GET: the input went into the query string (an undefined cursor left out), never into a body.
    const listed = sent.filter((r) => r.url.pathname === "/v1/auth/activity");
    expect(listed.every((r) => r.method === "GET" && r.body === "")).toBe(true);
    expect(listed[0]!.url.search).toBe("");
    expect(listed[1]!.url.search).toBe("?limit=2");
    expect(listed.length).toBeGreaterThanOrEqual(3); // at least 4 events: two pages of 2
    expect(listed[2]!.url.searchParams.get("limit")).toBe("2");
    expect(listed[2]!.url.searchParams.get("before")).toBeTruthy();
    const bad = await auth.activity.list({ limit: 1000 }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, code: "invalid_request" });
  });
});
