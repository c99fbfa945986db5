/**
 * Claims and step-up (API.md §15): `aal`, `amr` and `auth_time` in every access token and kept by
 * refresh; from an aal1 session of an account with a factor, every sensitive change answers 403
 * reauthentication_required with the password alone, and succeeds with password and code, or with
 * an aal2 token under 10 minutes old (mfa/step-up). A password reset leaves the factor on.
 */
import { describe, expect, it, vi } from "vitest";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import { call, claims, env, expectError, inUserSessions, json, login, mailedToken, uniqueEmail } from "../helpers";
import type { Json } from "../helpers";
import { firstFactor, mfaAccount, verify } from "./helpers";
import type { MfaAccount } from "./helpers";
import { activityOf } from "../helpers/activity";

/** An aal1 session of an account with a factor: one that was open before the factor was enabled. */
async function aal1Session(label: string): Promise<{ account: MfaAccount; aal1: Json }> {
  const account = await mfaAccount(label);
  // The factor was enabled from `account.tokens`' session, which its activation stepped up to aal2
  // (in the user's object, which holds the session's assurance since issue 27's slice 9).
  const below = await inUserSessions(account.userId, (sql) => sql.exec("SELECT id FROM session_state WHERE aal IS NOT 'aal2'").toArray());
  expect(below).toEqual([]);
  return { account, aal1: await aal1Pair(account) };
}

/** A new aal1 pair for an account with a factor (its aal2 session's row set back to aal1, as an old session's is). */
async function aal1Pair(account: MfaAccount): Promise<Json> {
  const pending = await firstFactor(account);
  const pair = await json(await verify({ mfaToken: pending.mfaToken, recoveryCode: account.recoveryCodes.pop() }));
  await env.DB.prepare("UPDATE sessions SET aal = 'aal1', amr = 'password', auth_time = created_at WHERE id = ?").bind(pair.sessionId).run();
  // The user's object holds the new session and its assurance (issue 27, slices 7 and 9): as for an old
  // session, it holds no assurance of record and is not vouched, so it must read D1's row.
  await inUserSessions(account.userId, (sql) => sql.exec("UPDATE session_state SET checked_epoch = NULL, aal = NULL, amr = NULL, auth_time = NULL WHERE id = ?", pair.sessionId));
  const refreshed = await json(await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }));
  expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  return refreshed;
}

describe("claims", () => {
  it("every access token carries aal, amr and auth_time, and refresh keeps them", async () => {
    const account = await mfaAccount("mfa-claims");
    const pending = await firstFactor(account);
    const pair = await json(await verify({ mfaToken: pending.mfaToken, code: await account.authenticator.next() }));
    const issued = claims(pair.accessToken);
    expect(issued).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(Math.abs(issued.auth_time - Date.now() / 1000)).toBeLessThan(10);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const refreshed = await json(await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }));
    expect(refreshed.aal).toBe("aal2");
    const kept = claims(refreshed.accessToken);
    expect(kept).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: issued.auth_time });
    expect(kept.iat).toBeGreaterThan(issued.iat);
    // A guest and a plain password sign-in are aal1 with their one method.
    const guest = await json(await call("/v1/auth/guest", { method: "POST" }));
    expect(claims(guest.accessToken)).toMatchObject({ aal: "aal1", amr: ["guest"] });
    expect(guest.aal).toBe("aal1");
  });

  it("a session from before the second factor (no recorded aal) is aal1 with its sign-in method", async () => {
    const account = await mfaAccount("mfa-legacy");
    const pair = account.tokens;
    await env.DB.prepare("UPDATE sessions SET aal = NULL, amr = NULL, auth_time = NULL WHERE id = ?").bind(pair.sessionId).run();
    // What the migration's backfill does for such a row: the method of the session's sign_in event.
    const signIn = (await activityOf(account.userId, "sign_in")).find((e) => e.session_id === pair.sessionId);
    expect(signIn?.method).toBe("password");
    await env.DB.prepare("UPDATE sessions SET amr = ? WHERE id = ?").bind(signIn!.method, pair.sessionId).run();
    // Such a session's object holds no assurance of record (slice 9), nor a vouched copy of one.
    await inUserSessions(account.userId, (sql) => sql.exec("UPDATE session_state SET checked_epoch = NULL, aal = NULL, amr = NULL, auth_time = NULL WHERE id = ?", pair.sessionId));
    const refreshed = await json(await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }));
    expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  });
});

describe("step-up", () => {
  const changes: Array<[string, (account: MfaAccount, token: string, proof: Record<string, unknown>) => Promise<Response>, number]> = [
    ["remove the factor", (a, token, proof) => call(`/v1/auth/mfa/totp/${a.factorId}`, { method: "DELETE", body: proof, token }), 204],
    ["renew recovery codes", (_a, token, proof) => call("/v1/auth/mfa/recovery-codes", { body: proof, token }), 200],
    ["change the password", (a, token, proof) => call("/v1/auth/change-password", { body: { currentPassword: a.password, newPassword: "a-new-violet-harbor-43", ...proof }, token }), 200],
    ["change the email", (_a, token, proof) => call("/v1/auth/change-email", { body: { newEmail: uniqueEmail("moved"), ...proof }, token }), 200],
    ["delete the account", (_a, token, proof) => call("/v1/auth/me", { method: "DELETE", body: proof, token }), 204],
  ];

  for (const [name, change, success] of changes) {
    it(`${name}: 403 with the password alone, done with password and code`, async () => {
      const { account, aal1 } = await aal1Session(`mfa-su-${name.split(" ")[0]}`);
      await expectError(await change(account, aal1.accessToken, { password: account.password }), 403, "reauthentication_required");
      await expectError(await change(account, aal1.accessToken, { password: account.password, code: "000000" === account.authenticator.codeAt(0) ? "1" : "000000" }), 401, "invalid_credentials");
      const done = await change(account, aal1.accessToken, { password: account.password, code: await account.authenticator.next() });
      expect(done.status, await done.clone().text()).toBe(success);
    });

    it(`${name}: done with an aal2 token from mfa/step-up`, async () => {
      const { account, aal1 } = await aal1Session(`mfa-st-${name.split(" ")[0]}`);
      const stepped = await call("/v1/auth/mfa/step-up", { body: { code: await account.authenticator.next() }, token: aal1.accessToken });
      const pair = await json(stepped);
      expect(stepped.status).toBe(200);
      expect(pair.sessionId).toBe(aal1.sessionId);
      const stepClaims = claims(pair.accessToken);
      expect(stepClaims).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
      expect(Math.abs(stepClaims.auth_time - Date.now() / 1000)).toBeLessThan(10);
      const done = await change(account, pair.accessToken, { password: account.password });
      expect(done.status, await done.clone().text()).toBe(success);
    });
  }

  it("an aal2 token older than 10 minutes is not enough", async () => {
    const account = await mfaAccount("mfa-stale");
    // The session's assurance is the user object's (issue 27, slice 9): its auth_time is aged there.
    await inUserSessions(account.userId, (sql) => sql.exec("UPDATE session_state SET auth_time = ? WHERE id = ?", Date.now() - 11 * 60_000, account.tokens.sessionId));
    const refreshed = await json(await call("/v1/auth/refresh", { body: { refreshToken: account.tokens.refreshToken } }));
    expect(claims(refreshed.accessToken).aal).toBe("aal2");
    await expectError(await call("/v1/auth/mfa/recovery-codes", { body: { password: account.password }, token: refreshed.accessToken }), 403, "reauthentication_required");
  });

  it("removing a passkey or an identity needs step-up too", async () => {
    const { account, aal1 } = await aal1Session("mfa-su-ways");
    const fakeIdentity = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO identities (id, user_id, provider, subject, email, created_at) VALUES (?, ?, 'loopback', ?, NULL, ?)").bind(fakeIdentity, account.userId, `s-${fakeIdentity}`, Date.now()).run();
    await expectError(await call(`/v1/auth/identities/${fakeIdentity}`, { method: "DELETE", body: { password: account.password }, token: aal1.accessToken }), 403, "reauthentication_required");
    const done = await call(`/v1/auth/identities/${fakeIdentity}`, { method: "DELETE", body: { password: account.password, code: await account.authenticator.next() }, token: aal1.accessToken });
    expect(done.status).toBe(204);
    const passkey = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, transports, user_handle, backed_up, name, created_at) VALUES (?, ?, ?, 'AA', 0, NULL, ?, 0, 'x', ?)")
      .bind(passkey, account.userId, `cred-${passkey}`, `h-${passkey}`, Date.now()).run();
    await expectError(await call(`/v1/auth/passkeys/${passkey}`, { method: "DELETE", body: { password: account.password }, token: aal1.accessToken }), 403, "reauthentication_required");
    expect(await env.DB.prepare("SELECT id FROM passkeys WHERE id = ?").bind(passkey).first()).not.toBeNull();
    const removed = await call(`/v1/auth/passkeys/${passkey}`, { method: "DELETE", body: { password: account.password, code: await account.authenticator.next() }, token: aal1.accessToken });
    expect(removed.status, await removed.clone().text()).toBe(204);
    expect(await env.DB.prepare("SELECT id FROM passkeys WHERE id = ?").bind(passkey).first()).toBeNull();
  });

  it("a stolen aal1 session can neither remove nor replace the factor", async () => {
    const { account, aal1 } = await aal1Session("mfa-stolen");
    await expectError(await call(`/v1/auth/mfa/totp/${account.factorId}`, { method: "DELETE", body: {}, token: aal1.accessToken }), 403, "reauthentication_required");
    await expectError(await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: aal1.accessToken }), 409, "conflict");
    expect((await json(await call("/v1/auth/mfa", { token: aal1.accessToken }))).factors).toHaveLength(1);
  });

  it("a password reset leaves the factor on, and the next sign-in asks for it", async () => {
    const account = await mfaAccount("mfa-reset");
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 3);
    const newPassword = "reset-violet-harbor-44";
    expect((await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword } })).status).toBe(200);
    await firstFactor({ email: account.email, password: newPassword });
    expect((await env.DB.prepare("SELECT mfa_enabled FROM users WHERE id = ?").bind(account.userId).first<{ mfa_enabled: number }>())!.mfa_enabled).toBe(1);
  });

  it("removing the factor takes every recovery code; the admin reset does too and is recorded", async () => {
    const account = await mfaAccount("mfa-remove");
    expect((await call(`/v1/auth/mfa/totp/${account.factorId}`, { method: "DELETE", body: {}, token: account.tokens.accessToken })).status).toBe(204);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM recovery_codes WHERE user_id = ?").bind(account.userId).first<{ n: number }>())!.n).toBe(0);
    expect((await login(account)).user.mfaEnabled).toBe(false);

    const other = await mfaAccount("mfa-admin-reset");
    const { adminCall } = await import("../helpers");
    const admin = await json(await adminCall(`/users/${other.userId}`));
    expect(admin.user.mfaEnabled).toBe(true);
    expect((await adminCall(`/users/${other.userId}/mfa`, { method: "DELETE" })).status).toBe(204);
    expect((await json(await adminCall(`/users/${other.userId}`))).user.mfaEnabled).toBe(false);
    const pair = await login(other);
    const { events } = await json(await call("/v1/auth/activity", { token: pair.accessToken }));
    const types = events.map((e: Json) => e.type);
    expect(types).toContain("mfa_enabled");
    expect(types).toContain("mfa_disabled");
    expect((await adminCall(`/users/${crypto.randomUUID()}/mfa`, { method: "DELETE" })).status).toBe(404);
  });

  it("renewed recovery codes replace the old set (recovery_codes_regenerated)", async () => {
    const account = await mfaAccount("mfa-renew");
    const renewed = await json(await call("/v1/auth/mfa/recovery-codes", { body: {}, token: account.tokens.accessToken }));
    expect(renewed.recoveryCodes).toHaveLength(10);
    const pending = await firstFactor(account);
    await expectError(await verify({ mfaToken: pending.mfaToken, recoveryCode: account.recoveryCodes[0] }), 401, "invalid_credentials");
    const ok = await verify({ mfaToken: pending.mfaToken, recoveryCode: renewed.recoveryCodes[0] });
    expect(ok.status).toBe(200);
    const { events } = await json(await call("/v1/auth/activity", { token: (await json(ok)).accessToken }));
    expect(events.map((e: Json) => e.type)).toEqual(expect.arrayContaining(["recovery_codes_regenerated", "recovery_code_used", "mfa_failed"]));
  });
});
