/**
 * Attacks on the second factor (API.md §15), each a way in that must stay shut: a stolen aal1 session
 * adding a passkey (aal2 on its own) to get around the factor; a claimant who enrolled a factor on
 * an address it never proved locking the mailbox's owner out; a pending sign-in (`mfaToken`) made
 * with a password outliving a reset or change of that password.
 */
import { describe, expect, it, vi } from "vitest";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import { PASSWORD, call, claims, env, expectError, guest, json, login, mailbox, mailedToken, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { attest, softCredential } from "../helpers/webauthn";
import { enableMfa, firstFactor, mfaAccount, verify } from "./helpers";

/** An account with a factor and a session opened before it was enabled (aal1, as §15 keeps it). */
async function withOldSession(label: string) {
  const account = await verifiedAccount(label);
  const old = await login(account);
  const current = await login(account);
  const mfa = await enableMfa(current.accessToken, account.password);
  expect(claims(old.accessToken).aal).toBe("aal1");
  return { account: { ...account, ...mfa }, old };
}

/** Registers a software passkey with `token`'s session; returns the answer of the register call. */
async function addPasskey(token: string, body: Record<string, unknown> = {}): Promise<Response> {
  const options = await call("/v1/auth/passkeys/register/options", { method: "POST", token });
  if (options.status !== 200) return options;
  const { challengeId, options: creation } = await json(options);
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: creation.challenge, userHandle: creation.user.id });
  return call("/v1/auth/passkeys/register", { body: { challengeId, response, ...body }, token });
}

const passkeysOf = async (userId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM passkeys WHERE user_id = ?").bind(userId).first<{ n: number }>())!.n;

describe("a stolen aal1 session cannot add a passkey (aal2 on its own) to an account with a factor", () => {
  it("403 reauthentication_required at options and at register; nothing stored", async () => {
    const { account, old } = await withOldSession("mfa-brk-pk");
    await expectError(await call("/v1/auth/passkeys/register/options", { method: "POST", token: old.accessToken }), 403, "reauthentication_required");
    // A challenge fetched by an aal2 session does not help the aal1 one either.
    const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: account.tokens.accessToken }));
    const credential = await softCredential("ES256");
    const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
    const stolen = await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token: old.accessToken });
    await expectError(stolen, 403, "reauthentication_required");
    expect(await passkeysOf(account.userId)).toBe(0);
  });

  it("an aal2 session under 10 minutes old adds one; an aal1 one does after mfa/step-up", async () => {
    const { account, old } = await withOldSession("mfa-brk-pk-ok");
    expect((await addPasskey(account.tokens.accessToken)).status).toBe(201);
    const stepped = await call("/v1/auth/mfa/step-up", { body: { code: await account.authenticator.next() }, token: old.accessToken });
    expect(stepped.status).toBe(200);
    const added = await addPasskey((await json(stepped)).accessToken);
    expect(added.status, await added.clone().text()).toBe(201);
    expect(await passkeysOf(account.userId)).toBe(2);
  });

  it("an account without a factor adds passkeys as before, aal1 or not", async () => {
    const account = await verifiedAccount("mfa-brk-pk-none");
    const pair = await login(account);
    expect((await addPasskey(pair.accessToken)).status).toBe(201);
    const visitor = await guest();
    expect((await addPasskey(visitor.accessToken)).status).toBe(201);
  });
});

describe("a factor enrolled on an unproven address does not lock out the mailbox's owner", () => {
  it("the owner's email code signs in (the claimant's factor and recovery codes gone)", async () => {
    const email = uniqueEmail("mfa-brk-claim");
    // The claimant: a guest upgraded with someone else's address, never proven, then a factor.
    const visitor = await guest();
    const upgraded = await call("/v1/auth/upgrade", { body: { email, username: uniqueUsername("claim"), password: PASSWORD }, token: visitor.accessToken });
    expect(upgraded.status).toBe(201);
    const claimant = await json(upgraded);
    await enableMfa(claimant.accessToken, PASSWORD);
    // The owner of the mailbox signs in with a mailed code.
    expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
    const [mail] = await mailbox(email, 2);
    const code = /\b(\d{6})\b/.exec(mail!.text)![1];
    const answer = await call("/v1/auth/email-code/verify", { body: { email, code } });
    const body = await json(answer);
    expect(answer.status, JSON.stringify(body)).toBe(200);
    expect(body.user.mfaEnabled).toBe(false);
    for (const table of ["mfa_factors", "recovery_codes", "mfa_challenges"]) {
      expect((await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`).bind(claimant.user.id).first<{ n: number }>())!.n, table).toBe(0);
    }
  });

  it("a reset link proving the address drops the claimant's factor too (a proven account's reset keeps it: step-up.test.ts)", async () => {
    const email = uniqueEmail("mfa-brk-claim2");
    const visitor = await guest();
    const claimant = await json(await call("/v1/auth/upgrade", { body: { email, username: uniqueUsername("claim2"), password: PASSWORD }, token: visitor.accessToken }));
    await enableMfa(claimant.accessToken, PASSWORD);
    expect((await call("/v1/auth/forgot-password", { body: { email } })).status).toBe(200);
    const token = await mailedToken(email, "/reset-password", 2);
    const newPassword = "owner-takes-back-77";
    expect((await call("/v1/auth/reset-password", { body: { email, token, newPassword } })).status).toBe(200);
    const pair = await login({ email, password: newPassword });
    expect(pair.user.mfaEnabled).toBe(false);
  });
});

describe("a pending sign-in made with a password ends when the password changes", () => {
  it("a reset voids the mfaToken a phisher holds", async () => {
    const account = await mfaAccount("mfa-brk-reset");
    const { mfaToken } = await firstFactor(account);
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 3);
    expect((await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: "after-phish-reset-55" } })).status).toBe(200);
    await expectError(await verify({ mfaToken, recoveryCode: account.recoveryCodes[0] }), 401, "invalid_credentials");
  });

  it("a change of password voids it too", async () => {
    const account = await mfaAccount("mfa-brk-change");
    const { mfaToken } = await firstFactor(account);
    const changed = await call("/v1/auth/change-password", { body: { currentPassword: PASSWORD, newPassword: "after-phish-change-55" }, token: account.tokens.accessToken });
    expect(changed.status, await changed.clone().text()).toBe(200);
    await expectError(await verify({ mfaToken, recoveryCode: account.recoveryCodes[0] }), 401, "invalid_credentials");
    // A sign-in with the new password completes as usual.
    const fresh: Json = await firstFactor({ email: account.email, password: "after-phish-change-55" });
    expect((await verify({ mfaToken: fresh.mfaToken, recoveryCode: account.recoveryCodes[1] })).status).toBe(200);
  });
});
