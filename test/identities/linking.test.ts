/**
 * A signed-in user's identities (API.md §13, §9): link (201; 409 when linked elsewhere), list, and
 * unlink with re-authentication and the last-way-to-sign-in rule; identity_linked and
 * identity_unlinked recorded in the change's own batch.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, expectError, guest, json, login, serviceSigningKey, signToken, verifiedAccount } from "../helpers";
import { idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { countActivity } from "../helpers/activity";

const events = (userId: string, type: string) => countActivity(userId, type);

const link = async (accessToken: string, claims: Record<string, unknown> = {}) =>
  call("/v1/auth/identities", { token: accessToken, body: { provider: "loopback", idToken: await mintIdToken(claims) } });

/** A password-free account made by an ID token, and its fresh tokens. */
async function identityOnlyAccount() {
  const sub = `only-${crypto.randomUUID()}`;
  const pair = await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }));
  return { sub, pair, userId: pair.user.id as string };
}

describe("linking identities", () => {
  it("links, lists and refuses an identity linked elsewhere", async () => {
    const account = await verifiedAccount("linker");
    const { accessToken } = await login(account);
    const sub = `l-${crypto.randomUUID()}`;
    const response = await link(accessToken, { sub, email: "shown@example.com", email_verified: true });
    expect(response.status).toBe(201);
    const { identity } = await json(response);
    expect(identity).toEqual({ id: expect.any(String), provider: "loopback", email: "shown@example.com", createdAt: expect.any(String) });
    expect(await events(account.userId, "identity_linked")).toBe(1);
    // The same identity again for the same account: the same link.
    expect((await json(await link(accessToken, { sub }))).identity.id).toBe(identity.id);

    const listed = await call("/v1/auth/identities", { token: accessToken });
    expect(listed.status).toBe(200);
    expect((await json(listed)).identities).toEqual([identity]);
    expect(listed.headers.get("ratelimit-limit")).toBe("60");

    // Signing in with it now lands in this account.
    expect((await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }))).user.id).toBe(account.userId);

    const other = await verifiedAccount("other");
    const otherTokens = await login(other);
    await expectError(await link(otherTokens.accessToken, { sub }), 409, "conflict");
    expect((await json(await call("/v1/auth/identities", { token: otherTokens.accessToken }))).identities).toEqual([]);
  });

  it("refuses a bad token (401), an unknown provider (404), a guest (403) and no Bearer (401)", async () => {
    const { accessToken } = await login(await verifiedAccount("linker2"));
    await expectError(await link(accessToken, { aud: "someone-else" }), 401, "invalid_credentials");
    await expectError(await call("/v1/auth/identities", { token: accessToken, body: { provider: "nope", idToken: "x" } }), 404, "not_found");
    const g = await guest();
    await expectError(await link(g.accessToken), 403, "forbidden");
    await expectError(await call("/v1/auth/identities", { body: { provider: "loopback", idToken: "x" } }), 401, "invalid_token");
    const limited = await link(accessToken);
    expect(limited.headers.get("ratelimit-limit")).toBe("20");
  });
});

describe("unlinking identities", () => {
  it("needs the password of an account that has one; then unlinks and records it", async () => {
    const account = await verifiedAccount("unlinker");
    const { accessToken } = await login(account);
    const { identity } = await json(await link(accessToken));
    const path = `/v1/auth/identities/${identity.id}`;
    await expectError(await call(path, { method: "DELETE", token: accessToken }), 400, "invalid_request");
    await expectError(await call(path, { method: "DELETE", token: accessToken, body: { password: "wrong-password-123" } }), 401, "invalid_credentials");
    const done = await call(path, { method: "DELETE", token: accessToken, body: { password: PASSWORD } });
    expect(done.status).toBe(204);
    expect(await events(account.userId, "identity_unlinked")).toBe(1);
    expect((await json(await call("/v1/auth/identities", { token: accessToken }))).identities).toEqual([]);
    await expectError(await call(path, { method: "DELETE", token: accessToken, body: { password: PASSWORD } }), 404, "not_found");
    expect(await events(account.userId, "identity_unlinked")).toBe(1);
  });

  it("refuses to remove the last way to sign in (409), and allows it once there is another", async () => {
    const { userId, pair } = await identityOnlyAccount();
    const [{ id }] = (await json(await call("/v1/auth/identities", { token: pair.accessToken }))).identities;
    const path = `/v1/auth/identities/${id}`;
    await expectError(await call(path, { method: "DELETE", token: pair.accessToken }), 409, "conflict");
    expect(await events(userId, "identity_unlinked")).toBe(0);

    // A second identity is another way: the first may go, the second then may not.
    const second = await json(await link(pair.accessToken, { sub: `second-${crypto.randomUUID()}` }));
    expect((await call(path, { method: "DELETE", token: pair.accessToken })).status).toBe(204);
    await expectError(await call(`/v1/auth/identities/${second.identity.id}`, { method: "DELETE", token: pair.accessToken }), 409, "conflict");
  });

  it("an account without a password needs a recent sign-in (10 minutes) to unlink", async () => {
    const { pair } = await identityOnlyAccount();
    const second = await json(await link(pair.accessToken, { sub: `s-${crypto.randomUUID()}` }));
    // An access token issued 11 minutes ago, for the same session.
    const { kid } = await serviceSigningKey();
    const old = await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims(pair.accessToken), jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) - 660 });
    await expectError(await call(`/v1/auth/identities/${second.identity.id}`, { method: "DELETE", token: old }), 403, "reauthentication_required");
    expect((await call(`/v1/auth/identities/${second.identity.id}`, { method: "DELETE", token: pair.accessToken })).status).toBe(204);
  });

  it("cannot touch another user's identity (404) and checks the id (400)", async () => {
    const mine = await identityOnlyAccount();
    const theirs = await identityOnlyAccount();
    const [{ id }] = (await json(await call("/v1/auth/identities", { token: theirs.pair.accessToken }))).identities;
    await expectError(await call(`/v1/auth/identities/${id}`, { method: "DELETE", token: mine.pair.accessToken }), 404, "not_found");
    await expectError(await call("/v1/auth/identities/not-a-uuid", { method: "DELETE", token: mine.pair.accessToken }), 400, "invalid_request");
  });

  it("two concurrent unlinks of an account's only two identities leave one", async () => {
    const { pair, userId } = await identityOnlyAccount();
    await link(pair.accessToken, { sub: `race-${crypto.randomUUID()}` });
    const ids = (await json(await call("/v1/auth/identities", { token: pair.accessToken }))).identities.map((i: { id: string }) => i.id);
    const answers = await Promise.all(ids.map((id: string) => call(`/v1/auth/identities/${id}`, { method: "DELETE", token: pair.accessToken })));
    expect(answers.map((a) => a.status).sort()).toEqual([204, 409]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM identities WHERE user_id = ?").bind(userId).first("n")).toBe(1);
    expect(await events(userId, "identity_unlinked")).toBe(1);
  });
});
