/**
 * Enrolment and activation (API.md §15): the key URI read by an independent TOTP library (otpauth),
 * ±1 step, each step once per factor, the secret encrypted at rest, ten hashed single-use recovery
 * codes, and the rules around a pending or second factor.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import * as OTPAuth from "otpauth";
import { describe, expect, it, vi } from "vitest";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import worker from "../../src";
import { BASE, call, claims, env, expectError, freshIp, json, login, mailbox, verifiedAccount } from "../helpers";
import { Authenticator, enableMfa, firstFactor, mfaAccount, verify } from "./helpers";

describe("enrolment and activation", () => {
  it("gives a key URI an independent TOTP library reads, and accepts the codes it makes", async () => {
    const account = await verifiedAccount("mfa-enrol");
    const pair = await login(account);
    const enrolled = await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: pair.accessToken });
    expect(enrolled.status).toBe(200);
    const body = await json(enrolled);
    const totp = OTPAuth.URI.parse(body.otpauthUri) as OTPAuth.TOTP;
    expect(totp).toBeInstanceOf(OTPAuth.TOTP);
    expect({ issuer: totp.issuer, label: totp.label, algorithm: totp.algorithm, digits: totp.digits, period: totp.period }).toEqual({
      issuer: "Edge Auth",
      label: account.email,
      algorithm: "SHA1",
      digits: 6,
      period: 30,
    });
    expect(totp.secret.base32).toBe(body.secret);
    expect(totp.secret.bytes.length).toBe(20);

    // A pending factor changes nothing: the password still signs in alone.
    expect((await call("/v1/auth/login", { body: { email: account.email, password: account.password } })).status).toBe(200);

    const activated = await call("/v1/auth/mfa/totp/activate", { body: { factorId: body.factorId, code: totp.generate() }, token: pair.accessToken });
    expect(activated.status).toBe(200);
    const result = await json(activated);
    expect(result.factor).toMatchObject({ id: body.factorId, type: "totp" });
    expect(result.recoveryCodes).toHaveLength(10);
    expect(new Set(result.recoveryCodes).size).toBe(10);
    for (const code of result.recoveryCodes) expect(code.replace(/-/g, "").length * 5).toBeGreaterThanOrEqual(50);
    // The calling session, now at aal2.
    expect(result.tokens.sessionId).toBe(pair.sessionId);
    expect(result.tokens.aal).toBe("aal2");
    expect(claims(result.tokens.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(result.tokens.user.mfaEnabled).toBe(true);

    const listed = await json(await call("/v1/auth/mfa", { token: result.tokens.accessToken }));
    expect(listed).toEqual({ factors: [{ id: body.factorId, type: "totp", createdAt: expect.any(String), lastUsedAt: expect.any(String) }], recoveryCodesRemaining: 10 });
    expect((await json(await call("/v1/auth/me", { token: result.tokens.accessToken }))).user.mfaEnabled).toBe(true);
  });

  it("keeps the secret encrypted and the recovery codes hashed in D1", async () => {
    const account = await mfaAccount("mfa-at-rest");
    const factor = await env.DB.prepare("SELECT * FROM mfa_factors WHERE user_id = ?").bind(account.userId).first<Record<string, unknown>>();
    expect(factor).not.toBeNull();
    const bytes = OTPAuth.Secret.fromBase32(account.secret).bytes;
    const stored = JSON.stringify(factor);
    expect(stored).not.toContain(account.secret);
    expect(stored.toLowerCase()).not.toContain(account.secret.toLowerCase());
    expect(stored).not.toContain(Buffer.from(bytes).toString("hex"));
    expect(stored).not.toContain(Buffer.from(bytes).toString("base64").replace(/=+$/, ""));
    expect(stored).not.toContain(Buffer.from(bytes).toString("base64url"));
    const { results } = await env.DB.prepare("SELECT * FROM recovery_codes WHERE user_id = ?").bind(account.userId).all();
    expect(results).toHaveLength(10);
    const codesTable = JSON.stringify(results);
    for (const code of account.recoveryCodes) {
      expect(codesTable).not.toContain(code);
      expect(codesTable).not.toContain(code.replace(/-/g, ""));
    }
  });

  it("accepts the codes of one step either side, and refuses two steps away", async () => {
    const account = await mfaAccount("mfa-window");
    const step = Authenticator.step();
    // The activation used step - 1 (the earliest in the window): the next steps are free.
    const far = await firstFactor(account);
    await expectError(await verify({ mfaToken: far.mfaToken, code: account.authenticator.codeAt(step + 3) }), 401, "invalid_credentials");
    await expectError(await verify({ mfaToken: far.mfaToken, code: account.authenticator.codeAt(step - 3) }), 401, "invalid_credentials");
    const current = await verify({ mfaToken: far.mfaToken, code: account.authenticator.codeAt(Authenticator.step()) });
    expect(current.status).toBe(200);
    const ahead = await firstFactor(account);
    const next = await verify({ mfaToken: ahead.mfaToken, code: account.authenticator.codeAt(Authenticator.step() + 1) });
    expect(next.status).toBe(200);
  });

  it("accepts each step's code once per factor", async () => {
    const account = await mfaAccount("mfa-replay");
    const code = await account.authenticator.next();
    const first = await firstFactor(account);
    expect((await verify({ mfaToken: first.mfaToken, code })).status).toBe(200);
    const second = await firstFactor(account);
    await expectError(await verify({ mfaToken: second.mfaToken, code }), 401, "invalid_credentials");
    // An earlier step than the last accepted one is refused too.
    await expectError(await verify({ mfaToken: second.mfaToken, code: account.authenticator.codeAt(account.authenticator.lastStep - 1) }), 401, "invalid_credentials");
  });

  it("takes each recovery code once, counts the rest, and mails a notice", async () => {
    const account = await mfaAccount("mfa-recovery");
    const [code] = account.recoveryCodes;
    const first = await firstFactor(account);
    expect(first.factors).toEqual(["totp", "recovery_code"]);
    const signedIn = await verify({ mfaToken: first.mfaToken, recoveryCode: code!.toUpperCase() });
    expect(signedIn.status).toBe(200);
    const pair = await json(signedIn);
    expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "recovery_code"] });
    const again = await firstFactor(account);
    await expectError(await verify({ mfaToken: again.mfaToken, recoveryCode: code }), 401, "invalid_credentials");
    expect((await json(await call("/v1/auth/mfa", { token: pair.accessToken }))).recoveryCodesRemaining).toBe(9);
    const [notice] = await mailbox(account.email, 3);
    expect(notice!.subject).toMatch(/recovery code was used/i);
    expect(notice!.text).toContain("9 unused codes remain");
    expect(notice!.text).not.toContain(code!);
  });

  it("refuses a second enrolment while a factor is active (409) and a guest's (403)", async () => {
    const account = await mfaAccount("mfa-twice");
    await expectError(await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: account.tokens.accessToken }), 409, "conflict");
    const guest = await json(await call("/v1/auth/guest", { method: "POST" }));
    await expectError(await call("/v1/auth/mfa/totp", { body: {}, token: guest.accessToken }), 403, "forbidden");
  });

  it("asks for the password to enrol (§9 re-authentication) and refuses a wrong activation code", async () => {
    const account = await verifiedAccount("mfa-reauth");
    const pair = await login(account);
    await expectError(await call("/v1/auth/mfa/totp", { body: {}, token: pair.accessToken }), 400, "invalid_request");
    await expectError(await call("/v1/auth/mfa/totp", { body: { password: "wrong-password-123" }, token: pair.accessToken }), 401, "invalid_credentials");
    const enrolled = await json(await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: pair.accessToken }));
    await expectError(await call("/v1/auth/mfa/totp/activate", { body: { factorId: enrolled.factorId, code: "000000" === new Authenticator(enrolled.otpauthUri).codeAt(Authenticator.step()) ? "111111" : "000000" }, token: pair.accessToken }), 401, "invalid_credentials");
    await expectError(await call("/v1/auth/mfa/totp/activate", { body: { factorId: crypto.randomUUID(), code: "123456" }, token: pair.accessToken }), 404, "not_found");
    expect((await json(await call("/v1/auth/me", { token: pair.accessToken }))).user.mfaEnabled).toBe(false);
  });

  it("a factor enabled from one session leaves the others signed in, at aal1", async () => {
    const account = await verifiedAccount("mfa-others");
    const other = await login(account);
    const pair = await login(account);
    await enableMfa(pair.accessToken, account.password);
    const refreshed = await call("/v1/auth/refresh", { body: { refreshToken: other.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect(claims((await json(refreshed)).accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  });

  it("is a 404 without MFA_ENCRYPTION_KEY", async () => {
    const account = await verifiedAccount("mfa-nokey");
    const pair = await login(account);
    const { MFA_ENCRYPTION_KEY: _key, ...rest } = env as unknown as Record<string, unknown>;
    const ctx = createExecutionContext();
    const headers = { "content-type": "application/json", authorization: `Bearer ${pair.accessToken}`, "cf-connecting-ip": freshIp() };
    const request = new Request(`${BASE}/v1/auth/mfa/totp`, { method: "POST", headers, body: JSON.stringify({ password: account.password }) });
    const response = await worker.fetch(request, rest as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
    await expectError(response, 404, "not_found");
  });
});
