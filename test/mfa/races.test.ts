/**
 * Races of the second factor (API.md §15): ten concurrent mfa/verify calls with one valid code give
 * exactly one TokenPair; two concurrent activations of one pending factor store one set of recovery
 * codes. Also `AuthRpc.verifySession` answers the session's assurance.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });
import { call, claims, env, inUserSessions, json, login, verifiedAccount } from "../helpers";
import { Authenticator, firstFactor, mfaAccount, verify } from "./helpers";
import { countActivity } from "../helpers/activity";

describe("races", () => {
  it("10 concurrent mfa/verify calls with one valid code: exactly one TokenPair", async () => {
    const account = await mfaAccount("mfa-race-verify");
    const { mfaToken } = await firstFactor(account);
    const code = await account.authenticator.next();
    const answers = await Promise.all(Array.from({ length: 10 }, () => verify({ mfaToken, code })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 401)).toBe(true);
    const live = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND id <> ?").bind(account.userId, account.tokens.sessionId).all<{ id: string }>();
    expect(live.results).toHaveLength(1);
    // Its assurance is the user object's (issue 27, slice 9): aal2.
    const won = await json(answers.find((a) => a.status === 200)!);
    expect(won.sessionId).toBe(live.results[0]!.id);
    expect(await inUserSessions(account.userId, (sql) => sql.exec("SELECT aal FROM session_state WHERE id = ?", won.sessionId).one().aal)).toBe("aal2");
  });

  it("10 concurrent calls with one recovery code across ten pending sign-ins: one pair", async () => {
    const account = await mfaAccount("mfa-race-recovery");
    const tokens = await Promise.all(Array.from({ length: 5 }, () => firstFactor(account).then((b) => b.mfaToken)));
    const code = account.recoveryCodes[0];
    const answers = await Promise.all(tokens.flatMap((mfaToken) => [verify({ mfaToken, recoveryCode: code }), verify({ mfaToken, recoveryCode: code })]));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
  });

  it("two concurrent activations of one pending factor: one set of recovery codes", async () => {
    const account = await verifiedAccount("mfa-race-activate");
    const pair = await login(account);
    const enrolled = await json(await call("/v1/auth/mfa/totp", { body: { password: account.password }, token: pair.accessToken }));
    const authenticator = new Authenticator(enrolled.otpauthUri);
    const code = authenticator.codeAt(Authenticator.step());
    const answers = await Promise.all([0, 1].map(() => call("/v1/auth/mfa/totp/activate", { body: { factorId: enrolled.factorId, code }, token: pair.accessToken })));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(1);
    expect([404, 409]).toContain(answers.find((a) => a.status !== 200)!.status);
    const { recoveryCodes } = await json(ok[0]!);
    const { results } = await env.DB.prepare("SELECT code_hash FROM recovery_codes WHERE user_id = ?").bind(account.userId).all();
    expect(results).toHaveLength(10);
    // The stored set is the one the winner was shown: each of its codes signs in.
    const pending = await firstFactor(account);
    expect((await verify({ mfaToken: pending.mfaToken, recoveryCode: recoveryCodes[9] })).status).toBe(200);
    expect(await countActivity(account.userId, "mfa_enabled")).toBe(1);
  });
});

describe("AuthRpc.verifySession", () => {
  it("returns aal, amr and authTime with the session", async () => {
    const account = await mfaAccount("mfa-rpc");
    const rpc = (exports as unknown as { AuthRpc: { verifySession(token: string): Promise<Record<string, unknown> | null> } }).AuthRpc;
    const verified = await rpc.verifySession(account.tokens.accessToken);
    const token = claims(account.tokens.accessToken);
    expect(verified).toMatchObject({ userId: account.userId, aal: "aal2", amr: ["password", "totp"], authTime: token.auth_time });
    const plain = await login(await verifiedAccount("mfa-rpc-plain"));
    expect(await rpc.verifySession(plain.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  });
});
