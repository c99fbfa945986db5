/**
 * No way around the second factor (API.md §15): for an account with an active factor, every sign-in
 * method but a passkey answers 403 mfa_required with an mfaToken and starts no session, and
 * mfa/verify completes each; the mfaToken's limits (5 minutes, single use, five wrong codes, ended
 * by disable, deletion and admin reset); wrong codes count as failed logins of the account.
 */
import { describe, expect, it, vi } from "vitest";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import { PASSWORD, adminCall, call, claims, env, expectError, json, mailbox } from "../helpers";
import type { Json } from "../helpers";
import { codeFlowSignIn, idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { assert, attest, softCredential } from "../helpers/webauthn";
import { firstFactor, mfaAccount, verify } from "./helpers";
import type { MfaAccount } from "./helpers";

const liveSessions = async (userId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(userId).first<{ n: number }>())!.n;

async function expectMfaRequired(response: Response, tokenField = "mfaToken"): Promise<Json> {
  const body = await json(response);
  expect(response.status, JSON.stringify(body)).toBe(403);
  expect(body).toMatchObject({ statusCode: 403, error: "mfa_required", factors: ["totp", "recovery_code"] });
  expect(typeof body[tokenField]).toBe("string");
  expect(body[tokenField].length).toBeGreaterThanOrEqual(43);
  expect(body.accessToken ?? body.access_token ?? body.refreshToken ?? body.data).toBeUndefined();
  return body;
}

/** Completes a pending sign-in with the next TOTP code; checks the pair names both methods. */
async function complete(account: MfaAccount, mfaToken: string, first: string): Promise<Json> {
  const response = await verify({ mfaToken, code: await account.authenticator.next() });
  const pair = await json(response);
  expect(response.status, JSON.stringify(pair)).toBe(200);
  expect(pair.aal).toBe("aal2");
  expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: [first, "totp"], sub: account.userId });
  return pair;
}

describe("every sign-in method meets the second factor", () => {
  it("password on all three doors: 403 mfa_required, no session, then mfa/verify", async () => {
    const account = await mfaAccount("mfa-doors");
    const before = await liveSessions(account.userId);
    const v1 = await expectMfaRequired(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }));
    const doc000 = await expectMfaRequired(await call("/auth/login", { body: { username: account.username, password: PASSWORD } }), "mfa_token");
    expect(doc000.mfaToken).toBeUndefined();
    const doc001 = await expectMfaRequired(await call("/auth/signin", { body: { email: ` ${account.email} `, password: PASSWORD } }));
    expect(await liveSessions(account.userId)).toBe(before);
    await complete(account, v1.mfaToken, "password");
    // The other two with recovery codes (a TOTP step's code is accepted once: no waiting for the next step).
    for (const [token, code] of [[doc000.mfa_token, account.recoveryCodes[0]], [doc001.mfaToken, account.recoveryCodes[1]]]) {
      const answer = await verify({ mfaToken: token, recoveryCode: code });
      expect(answer.status).toBe(200);
      expect(claims((await json(answer)).accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "recovery_code"] });
    }
    expect(await liveSessions(account.userId)).toBe(before + 3);
    // The activity names both methods of each aal2 sign-in.
    const { events } = await json(await call("/v1/auth/activity", { token: account.tokens.accessToken }));
    expect(events.filter((e: Json) => e.type === "sign_in" && e.method === "password+totp")).toHaveLength(1);
    expect(events.filter((e: Json) => e.type === "sign_in" && e.method === "password+recovery_code")).toHaveLength(2);
  });

  it("email code: 403 mfa_required (the code spent), then mfa/verify", async () => {
    const account = await mfaAccount("mfa-code");
    expect((await call("/v1/auth/email-code", { body: { email: account.email } })).status).toBe(200);
    const [mail] = await mailbox(account.email, 3);
    const code = /\b(\d{6})\b/.exec(mail!.text)![1];
    const before = await liveSessions(account.userId);
    const pending = await expectMfaRequired(await call("/v1/auth/email-code/verify", { body: { email: account.email, code } }));
    expect(await liveSessions(account.userId)).toBe(before);
    await expectError(await call("/v1/auth/email-code/verify", { body: { email: account.email, code } }), 401, "invalid_credentials");
    await complete(account, pending.mfaToken, "code");
  });

  it("ID token and the OAuth code exchange: 403 mfa_required, then mfa/verify", async () => {
    const account = await mfaAccount("mfa-oidc");
    const sub = `mfa-${crypto.randomUUID()}`;
    const before = await liveSessions(account.userId);
    const idToken = await mintIdToken({ sub, email: account.email, email_verified: true });
    const pending = await expectMfaRequired(await idTokenSignIn({ idToken }));
    expect(await liveSessions(account.userId)).toBe(before);
    await complete(account, pending.mfaToken, "id_token");
    const exchanged = await expectMfaRequired(await codeFlowSignIn({ account: { sub: `web-${sub}`, email: account.email, email_verified: true } }));
    expect(await liveSessions(account.userId)).toBe(before + 1);
    await complete(account, exchanged.mfaToken, "oauth");
  });

  it("a passkey sign-in is aal2 on its own", async () => {
    const account = await mfaAccount("mfa-passkey");
    const token = account.tokens.accessToken;
    const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
    const credential = await softCredential("ES256");
    const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
    expect((await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token })).status).toBe(201);
    const login = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    const assertion = await assert(credential, { challenge: login.options.challenge });
    const signedIn = await call("/v1/auth/passkeys/login", { body: { challengeId: login.challengeId, response: assertion } });
    const pair = await json(signedIn);
    expect(signedIn.status).toBe(200);
    expect(pair.aal).toBe("aal2");
    expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["passkey"] });
  });
});

describe("the mfaToken", () => {
  it("is single use", async () => {
    const account = await mfaAccount("mfa-once");
    const { mfaToken } = await firstFactor(account);
    await complete(account, mfaToken, "password");
    await expectError(await verify({ mfaToken, code: await account.authenticator.next() }), 401, "invalid_credentials");
    await expectError(await verify({ mfaToken, recoveryCode: account.recoveryCodes[0] }), 401, "invalid_credentials");
  });

  it("lasts 5 minutes", async () => {
    const account = await mfaAccount("mfa-expiry");
    const { mfaToken } = await firstFactor(account);
    const row = await env.DB.prepare("SELECT created_at, expires_at FROM mfa_challenges WHERE user_id = ?").bind(account.userId).first<{ created_at: number; expires_at: number }>();
    expect(row!.expires_at - row!.created_at).toBe(5 * 60_000);
    await env.DB.prepare("UPDATE mfa_challenges SET expires_at = ? WHERE user_id = ?").bind(Date.now() - 1, account.userId).run();
    await expectError(await verify({ mfaToken, code: await account.authenticator.next() }), 401, "invalid_credentials");
  });

  it("is void after 5 wrong codes, and wrong codes are recorded as mfa_failed", async () => {
    const account = await mfaAccount("mfa-five");
    const { mfaToken } = await firstFactor(account);
    for (let i = 0; i < 5; i++) await expectError(await verify({ mfaToken, code: i === 4 ? "999999" : `00000${i}` }), 401, "invalid_credentials");
    await expectError(await verify({ mfaToken, code: await account.authenticator.next() }), 401, "invalid_credentials");
    const { events } = await json(await call("/v1/auth/activity", { token: account.tokens.accessToken }));
    expect(events.filter((e: Json) => e.type === "mfa_failed").length).toBeGreaterThanOrEqual(4);
  });

  it("wrong codes count as failed logins of the account: 429 past 10 in 15 minutes, whatever the IP", async () => {
    const account = await mfaAccount("mfa-throttle");
    let refused = 0;
    for (let round = 0; round < 3 && refused === 0; round++) {
      const pending = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
      if (pending.status === 429) {
        refused++;
        break;
      }
      const { mfaToken } = await json(pending);
      for (let i = 0; i < 5; i++) {
        const answer = await verify({ mfaToken, code: "000000" });
        if (answer.status === 429) refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    // The right password and code are refused too while the account is throttled.
    const blocked = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    expect(blocked.status).toBe(429);
  });

  it("is ended by an admin disable, an admin reset and a deletion", async () => {
    for (const end of ["disable", "reset", "delete"] as const) {
      const account = await mfaAccount(`mfa-end-${end}`);
      const { mfaToken } = await firstFactor(account);
      if (end === "disable") {
        expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
        expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
      }
      if (end === "reset") expect((await adminCall(`/users/${account.userId}/mfa`, { method: "DELETE" })).status).toBe(204);
      if (end === "delete") expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
      await expectError(await verify({ mfaToken, code: await account.authenticator.next() }), 401, "invalid_credentials");
      expect((await env.DB.prepare("SELECT count(*) AS n FROM mfa_challenges WHERE user_id = ?").bind(account.userId).first<{ n: number }>())!.n).toBe(0);
    }
  });
});
