/**
 * Attacks on the second factor's codes and tokens (API.md §15) that must fail: a TOTP step replayed
 * across activation, mfa/verify and step-up; a recovery code spent twice by concurrent step-ups; an
 * `mfaToken` answered with another account's code, or used after the owner removed the factor;
 * malformed input (a clear 400/401, never a 500); secrets in answers, activity, events and logs;
 * a factor turned on or off without the owner hearing of it; and a missing MFA_ENCRYPTION_KEY,
 * which must fail closed.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import { BASE, PASSWORD, adminCall, call, captureLogs, env, expectError, freshIp, json, mailbox } from "../helpers";
import type { Json } from "../helpers";
import { firstFactor, mfaAccount, verify } from "./helpers";
import { activityOf } from "../helpers/activity";

describe("codes are spent once, and only by their account", () => {
  it("a TOTP step used by the activation, mfa/verify or step-up is refused everywhere after", async () => {
    const account = await mfaAccount("mfa-brk-replay");
    // The activation's own code (its step is the factor's last used one).
    const activationStep = account.authenticator.lastStep;
    const pending = await firstFactor(account);
    await expectError(await verify({ mfaToken: pending.mfaToken, code: account.authenticator.codeAt(activationStep) }), 401, "invalid_credentials");
    const code = await account.authenticator.next();
    expect((await verify({ mfaToken: pending.mfaToken, code })).status).toBe(200);
    await expectError(await call("/v1/auth/mfa/step-up", { body: { code }, token: account.tokens.accessToken }), 401, "invalid_credentials");
    const again = await firstFactor(account);
    await expectError(await verify({ mfaToken: again.mfaToken, code }), 401, "invalid_credentials");
  });

  it("one recovery code, five concurrent step-ups: exactly one succeeds", async () => {
    const account = await mfaAccount("mfa-brk-double");
    const code = account.recoveryCodes[3];
    const answers = await Promise.all(Array.from({ length: 5 }, () => call("/v1/auth/mfa/step-up", { body: { recoveryCode: code }, token: account.tokens.accessToken })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401, 401, 401]);
    const { recoveryCodesRemaining } = await json(await call("/v1/auth/mfa", { token: account.tokens.accessToken }));
    expect(recoveryCodesRemaining).toBe(9);
  });

  it("another account's recovery code does not answer an mfaToken, and stays unspent", async () => {
    const [a, b] = await Promise.all([mfaAccount("mfa-brk-xa"), mfaAccount("mfa-brk-xb")]);
    const pending = await firstFactor(a);
    await expectError(await verify({ mfaToken: pending.mfaToken, recoveryCode: b.recoveryCodes[0] }), 401, "invalid_credentials");
    const own = await firstFactor(b);
    expect((await verify({ mfaToken: own.mfaToken, recoveryCode: b.recoveryCodes[0] })).status).toBe(200);
  });

  it("removing the factor ends a pending mfaToken; document 000's snake_case fields work", async () => {
    const account = await mfaAccount("mfa-brk-removed");
    const pending = await firstFactor(account);
    expect((await call(`/v1/auth/mfa/totp/${account.factorId}`, { method: "DELETE", body: {}, token: account.tokens.accessToken })).status).toBe(204);
    await expectError(await verify({ mfa_token: pending.mfaToken, recovery_code: account.recoveryCodes[0] }), 401, "invalid_credentials");
    const other = await mfaAccount("mfa-brk-snake");
    const doc000 = await json(await call("/auth/login", { body: { username: other.username, password: PASSWORD } }));
    expect((await verify({ mfa_token: doc000.mfa_token, recovery_code: other.recoveryCodes[0] })).status).toBe(200);
  });
});

describe("bad input is a clear error, never a 500", () => {
  it("mfa/verify, step-up, activate and remove with malformed bodies", async () => {
    const account = await mfaAccount("mfa-brk-input");
    const token = account.tokens.accessToken;
    const { mfaToken } = await firstFactor(account);
    const bodies: unknown[] = [
      {}, null, [], "text", { mfaToken }, { mfaToken, code: 123456 }, { mfaToken, code: null }, { mfaToken, code: "" },
      { mfaToken, code: "1".repeat(100_000) } /* 413 payload_too_large */, { mfaToken, recoveryCode: "\u0000\ud800" }, { mfaToken, code: "１２３４５６" },
      { mfaToken: "", code: "123456" }, { mfaToken: { $ne: 1 }, code: "123456" }, { mfaToken, code: "123456", recoveryCode: "abcd" },
    ];
    for (const body of bodies) {
      for (const [path, auth] of [["/v1/auth/mfa/verify", undefined], ["/v1/auth/mfa/step-up", token], ["/v1/auth/mfa/totp/activate", token]] as const) {
        const answer = await call(path, { body, ...(auth ? { token: auth } : {}) });
        expect([400, 401, 404, 413], `${path} ${JSON.stringify(body)?.slice(0, 60)} → ${answer.status}`).toContain(answer.status);
        expect((await json(answer)).error).toBeTypeOf("string");
      }
    }
    const malformed = await call("/v1/auth/mfa/verify", { rawBody: "{not json", headers: { "content-type": "application/json" } });
    await expectError(malformed, 400, "invalid_request");
    for (const id of ["not-a-uuid", "%00", crypto.randomUUID()]) {
      const answer = await call(`/v1/auth/mfa/totp/${id}`, { method: "DELETE", body: {}, token });
      expect([400, 404]).toContain(answer.status);
    }
    // Still one factor, and the pending sign-in still completes (no stray try voided it past five).
    expect((await json(await call("/v1/auth/mfa", { token }))).factors).toHaveLength(1);
  });
});

describe("secrets stay secret", () => {
  it("no secret, recovery code or mfaToken in answers after enrolment, activity, events, admin views or logs", async () => {
    const logs = captureLogs();
    let account: Awaited<ReturnType<typeof mfaAccount>>;
    let pending: Json;
    try {
      account = await mfaAccount("mfa-brk-leak");
      pending = await firstFactor(account);
      await verify({ mfaToken: pending.mfaToken, code: "000000" });
      expect((await verify({ mfaToken: pending.mfaToken, recoveryCode: account.recoveryCodes[0] })).status).toBe(200);
    } finally {
      logs.restore();
    }
    const token = account.tokens.accessToken;
    const secrets = [account.secret, ...account.recoveryCodes, ...account.recoveryCodes.map((c) => c.replace(/-/g, "")), pending.mfaToken];
    const texts = [
      logs.text(),
      await (await call("/v1/auth/mfa", { token })).text(),
      await (await call("/v1/auth/me", { token })).text(),
      await (await call("/v1/auth/activity", { token })).text(),
      await (await adminCall(`/users/${account.userId}`)).text(),
      JSON.stringify((await env.DB.prepare("SELECT * FROM events").all()).results),
      JSON.stringify(await activityOf(account.userId)),
      JSON.stringify((await env.DB.prepare("SELECT * FROM mfa_challenges").all()).results),
    ];
    for (const text of texts) for (const secret of secrets) expect(text.toLowerCase()).not.toContain(secret.toLowerCase());
  });
});

describe("the owner hears of it", () => {
  it("the verified address gets a notice when the factor is turned on, and off (by the user or the admin reset)", async () => {
    const subjects = async (email: string, count: number) => (await mailbox(email, count)).map((m) => m.subject);
    const account = await mfaAccount("mfa-brk-notice");
    expect((await subjects(account.email, 2))[0]).toMatch(/two-step verification was turned on/i);
    expect((await call(`/v1/auth/mfa/totp/${account.factorId}`, { method: "DELETE", body: {}, token: account.tokens.accessToken })).status).toBe(204);
    expect((await subjects(account.email, 3))[0]).toMatch(/two-step verification was turned off/i);
    const other = await mfaAccount("mfa-brk-notice2");
    expect((await adminCall(`/users/${other.userId}/mfa`, { method: "DELETE" })).status).toBe(204);
    const mails = await mailbox(other.email, 3);
    expect(mails[0]!.subject).toMatch(/turned off/i);
    for (const mail of mails) expect(mail.text).not.toContain(other.secret);
  });
});

describe("without MFA_ENCRYPTION_KEY", () => {
  it("an account with a factor still meets it at sign-in (fails closed), and nothing answers a 500", async () => {
    const account = await mfaAccount("mfa-brk-nokey");
    const { MFA_ENCRYPTION_KEY: _key, ...rest } = env as unknown as Record<string, unknown>;
    const send = async (path: string, body: unknown, token?: string) => {
      const ctx = createExecutionContext();
      const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": freshIp(), ...(token ? { authorization: `Bearer ${token}` } : {}) };
      const response = await worker.fetch(new Request(`${BASE}${path}`, { method: "POST", headers, body: JSON.stringify(body) }), rest as unknown as Env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    const login = await send("/v1/auth/login", { email: account.email, password: PASSWORD });
    const body = await json(login);
    expect(login.status).toBe(403);
    expect(body.error).toBe("mfa_required");
    for (const answer of [
      await send("/v1/auth/mfa/verify", { mfaToken: body.mfaToken, code: await account.authenticator.next() }),
      await send("/v1/auth/mfa/verify", { mfaToken: body.mfaToken, recoveryCode: account.recoveryCodes[0] }),
      await send("/v1/auth/mfa/step-up", { recoveryCode: account.recoveryCodes[1] }, account.tokens.accessToken),
    ]) {
      expect(answer.status).toBeLessThan(500);
      expect(answer.status).not.toBe(200);
    }
  });
});
