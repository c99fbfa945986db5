/**
 * Account pre-hijacking, on every path that proves an address (issue 22 item 1;
 * src/accounts/address-proven.ts). The claimant upgrades a guest with the owner's address and a
 * password (the one door that gives an unproven address a session while verification is required),
 * then keeps three ways back in: a passkey, their own OpenID identity, and a change-of-address link
 * to their own mailbox. The owner then proves the address by one path; none of the claimant's
 * ways in may work afterwards. An address verified already changes nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, guest, json, login, mailbox, mailedToken, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";
import { countActivity } from "../helpers/activity";

interface Claim {
  email: string;
  userId: string;
  pair: Json;
  credential: SoftCredential;
  sub: string;
  changeToken: string;
}

async function addPasskey(accessToken: string): Promise<SoftCredential> {
  const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: accessToken }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token: accessToken })).status).toBe(201);
  return credential;
}

/** The claimant's account on the owner's address, with a passkey, an identity and a pending change of address. */
async function claim(label: string): Promise<Claim> {
  const email = uniqueEmail(label);
  const g = await guest();
  const upgraded = await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("claim"), password: PASSWORD } });
  expect(upgraded.status).toBe(201);
  const pair = await json(upgraded);
  const credential = await addPasskey(pair.accessToken);
  const sub = `claimant-${crypto.randomUUID()}`;
  const linked = await call("/v1/auth/identities", { token: pair.accessToken, body: { provider: "loopback", idToken: await mintIdToken({ sub }) } });
  expect(linked.status).toBe(201);
  const theirs = uniqueEmail("claimant-own");
  expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: theirs, password: PASSWORD } })).status).toBe(200);
  const changeToken = await mailedToken(theirs, "/confirm-email-change");
  return { email, userId: g.user.id, pair, credential, sub, changeToken };
}

async function passkeySignIn(credential: SoftCredential): Promise<Response> {
  const options = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
  const response = await assert(credential, { challenge: options.options.challenge });
  return call("/v1/auth/passkeys/login", { body: { challengeId: options.challengeId, response } });
}

/** None of the claimant's ways back in reaches the account any more. */
async function expectClaimantLockedOut(claimed: Claim): Promise<void> {
  await expectError(await call("/v1/auth/me", { token: claimed.pair.accessToken }), 401, "invalid_token");
  await expectError(await call("/v1/auth/refresh", { body: { refreshToken: claimed.pair.refreshToken } }), 401, "invalid_token");
  await expectError(await passkeySignIn(claimed.credential), 401, "invalid_credentials");
  // The claimant's identity now signs into an account of its own, never the owner's.
  const viaIdentity = await idTokenSignIn({ idToken: await mintIdToken({ sub: claimed.sub }) });
  expect(viaIdentity.status).toBe(200);
  expect((await json(viaIdentity)).user.id).not.toBe(claimed.userId);
  // The change-of-address link was voided: the account keeps the owner's address.
  await expectError(await call("/v1/auth/confirm-email-change", { body: { token: claimed.changeToken } }), 400, "invalid_request");
  const row = await env.DB.prepare("SELECT email, email_verified_at FROM users WHERE id = ?").bind(claimed.userId).first<Json>();
  expect(row.email).toBe(claimed.email);
  expect(row.email_verified_at).not.toBeNull();
  const left = await env.DB.prepare(
    `SELECT (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1) AS passkeys, (SELECT COUNT(*) FROM identities WHERE user_id = ?1) AS identities,
       (SELECT COUNT(*) FROM one_time_tokens WHERE user_id = ?1 AND used_at IS NULL) AS tokens,
       (SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL) AS sessions`,
  ).bind(claimed.userId).first<Json>();
  expect(left).toMatchObject({ passkeys: 0, identities: 0, tokens: 0 });
}

/** Asks for a reset link and returns its token, once that mail (and not an earlier one) arrived. */
async function resetToken(email: string): Promise<string> {
  const before = (await mailbox(email, 0)).length;
  expect((await call("/v1/auth/forgot-password", { body: { email } })).status).toBe(200);
  return mailedToken(email, "/reset-password", before + 1);
}

async function requestCode(email: string): Promise<string> {
  const before = (await mailbox(email, 0)).length;
  expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
  const messages = await mailbox(email, before + 1);
  const code = /sign-in code is (\d{6})/.exec(messages[0]!.text)?.[1];
  if (!code) throw new Error("no code in the mail");
  return code;
}

describe("the owner proves a claimed address", () => {
  it("by an email code: the claimant's passkey, identity, sessions and change-of-address link stop working", async () => {
    const claimed = await claim("ph-code");
    const signedIn = await call("/v1/auth/email-code/verify", { body: { email: claimed.email, code: await requestCode(claimed.email) } });
    expect(signedIn.status).toBe(200);
    const owner = await json(signedIn);
    expect(owner.user.id).toBe(claimed.userId);
    await expectClaimantLockedOut(claimed);
    // The password the claimant set is gone too; the owner's own session is the one left.
    await expectError(await call("/v1/auth/login", { body: { email: claimed.email, password: PASSWORD } }), 401, "invalid_credentials");
    expect((await call("/v1/auth/me", { token: owner.accessToken })).status).toBe(200);
    expect(await countActivity(claimed.userId, "session_revoked")).toBeGreaterThanOrEqual(1);
  });

  it("by a reset link: the claimant's OpenID identity no longer signs into the owner's account", async () => {
    const claimed = await claim("ph-reset");
    const token = await resetToken(claimed.email);
    const newPassword = "owner-takes-it-back-91";
    expect((await call("/v1/auth/reset-password", { body: { email: claimed.email, token, newPassword } })).status).toBe(200);
    await expectClaimantLockedOut(claimed);
    // The password the reset set is the owner's, and stays.
    expect((await login({ email: claimed.email, password: newPassword })).user.id).toBe(claimed.userId);
    await expectError(await call("/v1/auth/login", { body: { email: claimed.email, password: PASSWORD } }), 401, "invalid_credentials");
  });

  it("by the verification link: the claimant's attachments go, the registration's password stays", async () => {
    const claimed = await claim("ph-verify");
    const token = await mailedToken(claimed.email, "/verify-email");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    await expectClaimantLockedOut(claimed);
    // What the link confirms is the registration it was mailed for, with its password (SECURITY.md).
    expect((await login({ email: claimed.email, password: PASSWORD })).user.id).toBe(claimed.userId);
  });

  it("a pending change-of-address link dies with the owner's code even when it is the claimant's only way left", async () => {
    // The attack (a), alone: the claimant's link, confirmed after the owner signed in by code.
    const email = uniqueEmail("ph-link");
    const g = await guest();
    const pair = await json(await call("/v1/auth/upgrade", { token: g.accessToken, body: { email, username: uniqueUsername("pl"), password: PASSWORD } }));
    const theirs = uniqueEmail("ph-link-own");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: theirs, password: PASSWORD } })).status).toBe(200);
    const changeToken = await mailedToken(theirs, "/confirm-email-change");
    expect((await call("/v1/auth/email-code/verify", { body: { email, code: await requestCode(email) } })).status).toBe(200);
    await expectError(await call("/v1/auth/confirm-email-change", { body: { token: changeToken } }), 400, "invalid_request");
    const row = await env.DB.prepare("SELECT email FROM users WHERE id = ?").bind(g.user.id).first<Json>();
    expect(row.email).toBe(email);
  });
});

describe("an address verified already does not change hands", () => {
  it("its owner signing in by code, or resetting the password, keeps their passkey and identity; the reset voids the pending change", async () => {
    const account = await verifiedAccount("ph-verified");
    const { accessToken } = await login(account);
    const credential = await addPasskey(accessToken);
    const sub = `owner-${crypto.randomUUID()}`;
    expect((await call("/v1/auth/identities", { token: accessToken, body: { provider: "loopback", idToken: await mintIdToken({ sub }) } })).status).toBe(201);
    const next = uniqueEmail("ph-verified-next");
    expect((await call("/v1/auth/change-email", { token: accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    const changeToken = await mailedToken(next, "/confirm-email-change");

    const byCode = await call("/v1/auth/email-code/verify", { body: { email: account.email, code: await requestCode(account.email) } });
    expect(byCode.status).toBe(200);
    expect((await call("/v1/auth/me", { token: accessToken })).status).toBe(200);
    const token = await resetToken(account.email);
    expect((await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: "still-mine-entirely-27" } })).status).toBe(200);

    const viaPasskey = await passkeySignIn(credential);
    expect(viaPasskey.status).toBe(200);
    expect((await json(viaPasskey)).user.id).toBe(account.userId);
    expect((await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }))).user.id).toBe(account.userId);
    // A reset takes the account back: a change of address asked for before it (by a thief holding
    // the old password, say) is void; the owner asks again if it was theirs.
    await expectError(await call("/v1/auth/confirm-email-change", { body: { token: changeToken } }), 400, "invalid_request");
    const row = await env.DB.prepare("SELECT email FROM users WHERE id = ?").bind(account.userId).first<Json>();
    expect(row.email).toBe(account.email);
  });

  it("a change of address asked for before the code sign-in still confirms (only a reset voids it)", async () => {
    const account = await verifiedAccount("ph-verified-code");
    const { accessToken } = await login(account);
    const next = uniqueEmail("ph-verified-code-next");
    expect((await call("/v1/auth/change-email", { token: accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    const changeToken = await mailedToken(next, "/confirm-email-change");
    expect((await call("/v1/auth/email-code/verify", { body: { email: account.email, code: await requestCode(account.email) } })).status).toBe(200);
    const confirmed = await call("/v1/auth/confirm-email-change", { body: { token: changeToken } });
    expect(confirmed.status).toBe(200);
    expect((await json(confirmed)).user.email).toBe(next);
  });

  it("confirming a change of address keeps the account holder's password, passkey, identity and sessions", async () => {
    const account = await verifiedAccount("ph-move");
    const { accessToken } = await login(account);
    const credential = await addPasskey(accessToken);
    const sub = `mover-${crypto.randomUUID()}`;
    expect((await call("/v1/auth/identities", { token: accessToken, body: { provider: "loopback", idToken: await mintIdToken({ sub }) } })).status).toBe(201);
    const next = uniqueEmail("ph-move-next");
    expect((await call("/v1/auth/change-email", { token: accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    expect((await call("/v1/auth/confirm-email-change", { body: { token: await mailedToken(next, "/confirm-email-change") } })).status).toBe(200);
    expect((await call("/v1/auth/me", { token: accessToken })).status).toBe(200);
    expect((await passkeySignIn(credential)).status).toBe(200);
    expect((await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }))).user.id).toBe(account.userId);
    expect((await login({ email: next, password: PASSWORD })).user.id).toBe(account.userId);
  });

  it("a guest upgraded by a provider's verified email keeps that identity and its session", async () => {
    const g = await guest();
    const email = uniqueEmail("ph-provider");
    const sub = `guest-${crypto.randomUUID()}`;
    const upgraded = await idTokenSignIn({ idToken: await mintIdToken({ sub, email, email_verified: true }) }, g.accessToken);
    expect(upgraded.status).toBe(200);
    const pair = await json(upgraded);
    expect(pair.user).toMatchObject({ id: g.user.id, email, emailVerified: true });
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect((await json(await idTokenSignIn({ idToken: await mintIdToken({ sub }) }))).user.id).toBe(g.user.id);
  });
});
