/**
 * edge-auth/client's password-free sign-in (API.md §11–§13) against the real service over HTTP:
 * email codes through the dev outbox (a guest upgraded in place keeps its id), passkeys with the
 * software authenticator of test/helpers/webauthn.ts (WebCrypto only, so it runs in Node; the sdk
 * service's WEBAUTHN_RP_ID/ORIGINS are what it signs), and ID tokens minted by the loopback
 * OpenID Provider (scripts/oidc-provider-server.mjs) for signInWithIdToken and identities.*.
 */
import * as jose from "jose";
import { describe, expect, inject, it } from "vitest";
import { EdgeAuthError, routes } from "../../sdk/client";
import "../helpers/oidc-provided";
import { assert, attest, softCredential } from "../helpers/webauthn";
import { PASSWORD, client, mailbox, network, serviceUrl, signedInUser, uniqueEmail } from "./helpers";

const oidc = inject("oidc");

/** The newest sign-in code mailed to `to` (dev outbox), waiting for the `count`-th mail. */
async function mailedCode(to: string, count = 1): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const messages = await mailbox(to);
    const code = messages.length >= count ? messages[0]?.text.match(/sign-in code is (\d{6})/)?.[1] : undefined;
    if (code) return code;
    if (Date.now() > deadline) throw new Error(`no code mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An RS256 ID token signed with the loopback provider's published key, for its native client. */
async function mintIdToken(claims: Record<string, unknown>): Promise<string> {
  const { key } = (await (await fetch(`${oidc.issuer}/_test/signing-key`)).json()) as { key: jose.JWK & { kid: string } };
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ iss: oidc.issuer, aud: oidc.clients.native.id, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
    .sign(await jose.importJWK(key, "RS256"));
}

/** The software authenticator's JSON, typed as the route takes it (its `type` is a plain string). */
type RegistrationResponse = NonNullable<(typeof routes.passkeys.register)["types"]>["input"]["response"];
type AuthenticationResponse = NonNullable<(typeof routes.passkeys.login)["types"]>["input"]["response"];

describe("email codes (API.md §11)", () => {
  it("emailCode.send mails a code; emailCode.verify signs in (a new account, address verified)", async () => {
    const { auth, net } = client();
    const email = uniqueEmail("sdk-code");
    const sent = await auth.emailCode.send({ email });
    expect(sent.message).toMatch(/code/);
    const pair = await auth.emailCode.verify({ email, code: await mailedCode(email) });
    expect(pair.user).toMatchObject({ email, emailVerified: true, isGuest: false });
    expect(auth.session).toMatchObject({ accessToken: pair.accessToken, sessionId: pair.sessionId });
    expect((await auth.me()).user.id).toBe(pair.user.id);
    // Nobody was signed in: no Bearer token went with the verify.
    expect(net.requests.find((r) => r.line === "POST /v1/auth/email-code/verify")?.authorization).toBeNull();

    // The code works once: 401 invalid_credentials, and the session is kept.
    const again = await client().auth.emailCode.verify({ email, code: await mailedCode(email) }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(EdgeAuthError);
    expect(again).toMatchObject({ status: 401, code: "invalid_credentials" });
  });

  it("a guest's emailCode.verify sends its Bearer token: the guest is upgraded in place (same user id)", async () => {
    const { auth, net } = client();
    const guest = await auth.guest();
    expect(guest.user.isGuest).toBe(true);
    const email = uniqueEmail("sdk-code-guest");
    await auth.emailCode.send({ email });
    const pair = await auth.emailCode.verify({ email, code: await mailedCode(email) });
    expect(pair.user).toMatchObject({ id: guest.user.id, email, isGuest: false, emailVerified: true });
    expect(net.requests.find((r) => r.line === "POST /v1/auth/email-code/verify")?.authorization).toBe(`Bearer ${guest.accessToken}`);
    expect(auth.session?.user).toMatchObject({ id: guest.user.id, isGuest: false });
    expect((await auth.me()).user).toMatchObject({ id: guest.user.id, email });

    // A full account's token is not sent: signing in to another address with a code just works.
    const other = uniqueEmail("sdk-code-other");
    await auth.emailCode.send({ email: other });
    const switched = await auth.emailCode.verify({ email: other, code: await mailedCode(other) });
    expect(switched.user.id).not.toBe(guest.user.id);
    expect(net.requests.filter((r) => r.line === "POST /v1/auth/email-code/verify")[1]?.authorization).toBeNull();
  });

  it("a guest verifying the address of an existing account: 409, the guest session is kept", async () => {
    const { email } = await signedInUser("sdk-code-taken");
    const { auth } = client();
    const guest = await auth.guest();
    await auth.emailCode.send({ email });
    const taken = await auth.emailCode.verify({ email, code: await mailedCode(email) }).catch((e: unknown) => e);
    expect(taken).toMatchObject({ status: 409 });
    expect(auth.session?.accessToken).toBe(guest.accessToken);
    expect((await auth.me()).user).toMatchObject({ id: guest.user.id, isGuest: true });
    // Nothing changed, the code included: the app may sign into that account without the token.
    const owner = await auth.call({ ...routes.emailCode.verify, auth: false }, { email, code: await mailedCode(email) });
    expect(owner.user).toMatchObject({ email, isGuest: false });
    expect(owner.user.id).not.toBe(guest.user.id);
    expect(auth.session?.user?.id).toBe(owner.user.id);
  });
});

describe("passkeys (API.md §12)", () => {
  it("registers a passkey, signs in with it, lists, renames and deletes it", async () => {
    const { auth, email } = await signedInUser("sdk-passkey");
    const userId = auth.session!.user!.id;
    const credential = await softCredential("ES256");

    const { challengeId, options } = await auth.passkeys.registrationOptions();
    const creation = options as { challenge: string; user: { id: string }; rp: { id: string } };
    expect(creation.rp.id).toBe("auth.test");
    const response = (await attest(credential, { challenge: creation.challenge, userHandle: creation.user.id })) as RegistrationResponse;
    const { passkey } = await auth.passkeys.register({ challengeId, response, name: "Laptop" });
    expect(passkey).toMatchObject({ name: "Laptop", lastUsedAt: null });

    // Sign in on "another device": a fresh client, no session, no token sent.
    const device = client();
    const login = await device.auth.passkeys.loginOptions();
    const request = login.options as { challenge: string; allowCredentials?: unknown[] };
    expect(request.allowCredentials ?? []).toEqual([]);
    const pair = await device.auth.passkeys.login({ challengeId: login.challengeId, response: await assert(credential, { challenge: request.challenge }) as AuthenticationResponse });
    expect(pair.user).toMatchObject({ id: userId, email });
    expect(device.auth.session?.user?.id).toBe(userId);
    expect(device.net.requests.every((r) => r.authorization === null)).toBe(true);

    // The same challenge is spent: a second login with it is refused.
    const replay = await client().auth.passkeys.login({ challengeId: login.challengeId, response: await assert(credential, { challenge: request.challenge }) as AuthenticationResponse }).catch((e: unknown) => e);
    expect(replay).toMatchObject({ status: 401, code: "invalid_credentials" });

    const listed = await device.auth.passkeys.list();
    expect(listed.passkeys).toHaveLength(1);
    expect(listed.passkeys[0]).toMatchObject({ id: passkey.id, name: "Laptop" });
    expect(listed.passkeys[0]!.lastUsedAt).not.toBeNull();

    const renamed = await device.auth.passkeys.rename({ passkeyId: passkey.id, name: "  Work laptop " });
    expect(renamed.passkey).toMatchObject({ id: passkey.id, name: "Work laptop" });
    expect((await auth.passkeys.list()).passkeys.map((p) => p.name)).toEqual(["Work laptop"]);

    // The account has a password: removing a passkey asks for it (API.md §9), sent in the DELETE body.
    const without = await device.auth.passkeys.delete({ passkeyId: passkey.id }).catch((e: unknown) => e);
    expect(without).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await device.auth.passkeys.delete({ passkeyId: passkey.id, password: PASSWORD })).toBeUndefined();
    expect((await auth.passkeys.list()).passkeys).toEqual([]);
    const gone = await auth.passkeys.rename({ passkeyId: passkey.id, name: "x" }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 404 });
    const missing = await client().auth.passkeys.login({
      challengeId: (await client().auth.passkeys.loginOptions()).challengeId,
      response: (await assert(credential, { challenge: "AAAA" })) as AuthenticationResponse,
    }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 401 });
  });

  it("a guest adds a passkey and signs back into the same guest account", async () => {
    const { auth } = client();
    const guest = await auth.guest();
    const credential = await softCredential("RS256");
    const { challengeId, options } = await auth.passkeys.registrationOptions();
    const creation = options as { challenge: string; user: { id: string } };
    const { passkey } = await auth.passkeys.register({
      challengeId,
      response: (await attest(credential, { challenge: creation.challenge, userHandle: creation.user.id })) as RegistrationResponse,
    });

    const device = client().auth;
    const login = await device.passkeys.loginOptions();
    const pair = await device.passkeys.login({
      challengeId: login.challengeId,
      response: (await assert(credential, { challenge: (login.options as { challenge: string }).challenge })) as AuthenticationResponse,
    });
    expect(pair.user).toMatchObject({ id: guest.user.id, isGuest: true });
    expect(device.session?.user?.id).toBe(guest.user.id);
    expect((await device.passkeys.list()).passkeys.map((p) => p.id)).toEqual([passkey.id]);
  });
});

describe("ID tokens and identities (API.md §13)", () => {
  it("signInWithIdToken signs in (a new account); identities.list shows the provider identity", async () => {
    const { auth, net } = client();
    const email = uniqueEmail("sdk-oidc");
    const sub = `sub-${crypto.randomUUID()}`;
    const pair = await auth.signInWithIdToken({ provider: "loopback", idToken: await mintIdToken({ sub, email, email_verified: true }) });
    expect(pair.user).toMatchObject({ email, isGuest: false });
    expect(auth.session?.sessionId).toBe(pair.sessionId);
    expect(net.requests.find((r) => r.line === "POST /v1/auth/id-token")?.authorization).toBeNull();

    const { identities } = await auth.identities.list();
    expect(identities).toEqual([{ id: expect.any(String), provider: "loopback", email, createdAt: expect.any(String) }]);

    // The same identity signs into the same account again.
    const again = await client().auth.signInWithIdToken({ provider: "loopback", idToken: await mintIdToken({ sub }) });
    expect(again.user.id).toBe(pair.user.id);
    // A token the provider did not sign: 401 invalid_credentials.
    const forged = await client().auth.signInWithIdToken({ provider: "loopback", idToken: `${await mintIdToken({ sub })}x` }).catch((e: unknown) => e);
    expect(forged).toMatchObject({ status: 401, code: "invalid_credentials" });
  });

  it("an account whose only way in is its identity cannot unlink it (409)", async () => {
    const { auth } = client();
    // No email in the token: no address to send codes to, no password.
    await auth.signInWithIdToken({ provider: "loopback", idToken: await mintIdToken({ sub: `sub-${crypto.randomUUID()}` }) });
    const [identity] = (await auth.identities.list()).identities;
    expect(identity).toMatchObject({ provider: "loopback", email: null });
    expect(await auth.identities.unlink({ identityId: identity!.id }).catch((e: unknown) => e)).toMatchObject({ status: 409 });
    expect((await auth.identities.list()).identities).toHaveLength(1);
  });

  it("a guest's signInWithIdToken sends its token: upgraded in place, same user id", async () => {
    const { auth, net } = client();
    const guest = await auth.guest();
    const email = uniqueEmail("sdk-oidc-guest");
    const pair = await auth.signInWithIdToken({ provider: "loopback", idToken: await mintIdToken({ sub: `sub-${crypto.randomUUID()}`, email, email_verified: true }) });
    expect(pair.user).toMatchObject({ id: guest.user.id, isGuest: false, email });
    expect(net.requests.find((r) => r.line === "POST /v1/auth/id-token")?.authorization).toBe(`Bearer ${guest.accessToken}`);
    expect((await auth.identities.list()).identities.map((i) => i.provider)).toEqual(["loopback"]);
  });

  it("identities.link adds a provider to a password account; identities.unlink removes it", async () => {
    const { auth } = await signedInUser("sdk-link");
    const sub = `sub-${crypto.randomUUID()}`;
    const { identity } = await auth.identities.link({ provider: "loopback", idToken: await mintIdToken({ sub }) });
    expect(identity).toMatchObject({ provider: "loopback", email: null });
    expect((await auth.identities.list()).identities.map((i) => i.id)).toEqual([identity.id]);
    // The linked identity signs into this account.
    expect((await client().auth.signInWithIdToken({ provider: "loopback", idToken: await mintIdToken({ sub }) })).user.id).toBe(auth.session!.user!.id);
    // A password account confirms the unlink with its password.
    expect(await auth.identities.unlink({ identityId: identity.id, password: "not-the-password-1" }).catch((e: unknown) => e)).toMatchObject({ status: 401 });
    expect(await auth.identities.unlink({ identityId: identity.id, password: PASSWORD })).toBeUndefined();
    expect((await auth.identities.list()).identities).toEqual([]);
    const unknown = await auth.identities.link({ provider: "nowhere", idToken: await mintIdToken({ sub }) }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 404 });
  });

  it("oauth.authorizeUrl builds the service's authorize URL, which redirects to the provider; exchange refuses a made-up code", async () => {
    const { auth } = client();
    const url = new URL(auth.oauth.authorizeUrl("loopback", { redirectUri: `${oidc.issuer}/_test/app`, state: "s t&1" }));
    expect(`${url.origin}${url.pathname}`).toBe(`${serviceUrl}/v1/auth/oauth/loopback/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ redirect_uri: `${oidc.issuer}/_test/app`, state: "s t&1" });
    expect(new URL(auth.oauth.authorizeUrl("a b", { redirectUri: "https://x.example/cb" })).search).toBe("?redirect_uri=https%3A%2F%2Fx.example%2Fcb");
    expect(auth.oauth.authorizeUrl("a b", { redirectUri: "x" })).toContain("/oauth/a%20b/authorize");

    const net = network();
    const answer = await net.fetch(url.href, { redirect: "manual" });
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(`${oidc.issuer}/auth`);
    expect(location.searchParams.get("client_id")).toBe(oidc.clients.web.id);
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");

    const made = await auth.oauth.exchange({ code: "not-a-real-code-0123456789" }).catch((e: unknown) => e);
    expect(made).toBeInstanceOf(EdgeAuthError);
    expect(made).toMatchObject({ status: 401 });
    expect(auth.session).toBeNull();
  });
});
