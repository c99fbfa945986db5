/**
 * Which account a proven identity signs into (API.md §13), in order, through both flows: already
 * linked → that user; a guest's Bearer → linked and upgraded in place; a verified email matching a
 * verified account → linked; matching an unverified one → 409, no link; otherwise a new account
 * without a password. Disabled accounts → 403. Every link writes identity_linked.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, expectError, guest, json, login, uniqueEmail, verifiedAccount } from "../helpers";
import { codeFlowSignIn, idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { activityOf } from "../helpers/activity";

const activity = async (userId: string, type: string) => ({ results: await activityOf(userId, type) });
const identitiesOf = (userId: string) => env.DB.prepare("SELECT provider, subject, email FROM identities WHERE user_id = ?").bind(userId).all<{ provider: string; subject: string; email: string | null }>();
const userRow = (id: string) => env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(id).first<Record<string, unknown>>();

/** Both flows, so each rule is shown through each. */
const flows = {
  "ID token": (account: { sub: string; email?: string; email_verified?: boolean }, token?: string) =>
    mintIdToken(account).then((idToken) => idTokenSignIn({ idToken }, token)),
  "code flow": (account: { sub: string; email?: string; email_verified?: boolean }, token?: string) =>
    codeFlowSignIn({ account, ...(token ? { token } : {}) }),
};

describe.each(Object.entries(flows))("account resolution through the %s", (name, signIn) => {
  const method = name === "ID token" ? "id_token" : "oauth";

  it("creates a new full account without a password, and signs back into it by the same identity", async () => {
    const sub = `new-${crypto.randomUUID()}`;
    const email = uniqueEmail("new");
    const first = await json(await signIn({ sub, email, email_verified: true }));
    expect(first.user).toMatchObject({ email, emailVerified: true, isGuest: false, username: null });
    const row = await userRow(first.user.id);
    expect(row?.password_hash).toBeNull();
    expect((await identitiesOf(first.user.id)).results).toEqual([{ provider: "loopback", subject: sub, email }]);
    expect((await activity(first.user.id, "identity_linked")).results).toHaveLength(1);
    expect((await activity(first.user.id, "sign_in")).results[0]).toMatchObject({ method, session_id: first.sessionId });

    // Already linked → that user, whatever the token's email says now.
    const again = await json(await signIn({ sub, email: uniqueEmail("changed"), email_verified: true }));
    expect(again.user.id).toBe(first.user.id);
    expect(again.sessionId).not.toBe(first.sessionId);
  });

  it("does not adopt an unverified email", async () => {
    const email = uniqueEmail("unverified-claim");
    const pair = await json(await signIn({ sub: `nv-${crypto.randomUUID()}`, email, email_verified: false }));
    expect(pair.user).toMatchObject({ email: null, emailVerified: false, isGuest: false });
    // The address stays free for its owner.
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
  });

  it("links to an account whose verified address matches the token's verified email", async () => {
    const account = await verifiedAccount("match");
    const response = await signIn({ sub: `m-${crypto.randomUUID()}`, email: account.email.toUpperCase(), email_verified: true });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user.id).toBe(account.userId);
    expect((await identitiesOf(account.userId)).results).toHaveLength(1);
    expect((await activity(account.userId, "identity_linked")).results).toHaveLength(1);
    // The password still works.
    await login(account);
  });

  it("refuses (409, no link) an account with that address that is not verified: a pre-registration takeover", async () => {
    const email = uniqueEmail("prereg");
    const registered = await json(await call("/v1/auth/register", { body: { email, password: PASSWORD } }));
    const response = await signIn({ sub: `p-${crypto.randomUUID()}`, email, email_verified: true });
    await expectError(response, 409, "conflict");
    expect((await identitiesOf(registered.user.id)).results).toHaveLength(0);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email_normalized = ?").bind(email.toLowerCase()).first("n")).toBe(1);
  });

  it("upgrades a guest in place: same id, sessions kept, verified email adopted, identity linked", async () => {
    const g = await guest();
    const other = await json(await call("/v1/auth/refresh", { body: { refreshToken: g.refreshToken } }));
    const email = uniqueEmail("guest-up");
    const sub = `gu-${crypto.randomUUID()}`;
    const response = await signIn({ sub, email, email_verified: true }, other.accessToken);
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: g.user.id, isGuest: false, email, emailVerified: true });
    expect(pair.sessionId).toBe(g.sessionId);
    expect(claims(pair.accessToken).role).toBe("user");
    expect((await identitiesOf(g.user.id)).results).toEqual([{ provider: "loopback", subject: sub, email }]);
    expect((await activity(g.user.id, "upgraded")).results).toHaveLength(1);
    expect((await activity(g.user.id, "identity_linked")).results).toHaveLength(1);
    // The new pair works; the identity now signs into the same account.
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect((await json(await signIn({ sub }))).user.id).toBe(g.user.id);
  });

  it("upgrading a guest to an email that is taken: 409 and nothing changes", async () => {
    const account = await verifiedAccount("taken");
    const g = await guest();
    const sub = `gt-${crypto.randomUUID()}`;
    await expectError(await signIn({ sub, email: account.email, email_verified: true }, g.accessToken), 409, "conflict");
    expect(await userRow(g.user.id)).toMatchObject({ is_guest: 1, email: null });
    expect((await identitiesOf(g.user.id)).results).toHaveLength(0);
    expect((await identitiesOf(account.userId)).results).toHaveLength(0);
    expect((await activity(g.user.id, "upgraded")).results).toHaveLength(0);
    expect((await call("/v1/auth/me", { token: g.accessToken })).status).toBe(200);
  });

  it("answers 403 account_disabled for a disabled account, linked or matched by email", async () => {
    const sub = `d-${crypto.randomUUID()}`;
    const first = await json(await signIn({ sub }));
    await env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), first.user.id).run();
    await expectError(await signIn({ sub }), 403, "account_disabled");

    const account = await verifiedAccount("disabled");
    await env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), account.userId).run();
    await expectError(await signIn({ sub: `d2-${crypto.randomUUID()}`, email: account.email, email_verified: true }), 403, "account_disabled");
    expect((await identitiesOf(account.userId)).results).toHaveLength(0);
  });
});

describe("a signed-in full account's Bearer token on the sign-in routes", () => {
  it("is not a link request: the identity signs into its own account", async () => {
    const account = await verifiedAccount("full-bearer");
    const me = await login(account);
    const pair = await json(await idTokenSignIn({ idToken: await mintIdToken({ sub: `fb-${crypto.randomUUID()}` }) }, me.accessToken));
    expect(pair.user.id).not.toBe(account.userId);
  });

  it("an invalid Bearer token is a 401, not an anonymous sign-in", async () => {
    await expectError(await idTokenSignIn({ idToken: await mintIdToken() }, "not-a-token"), 401, "invalid_token");
  });
});
