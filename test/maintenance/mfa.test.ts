/**
 * The daily clean-up drops what a second factor leaves behind when a user walks away (API.md §15):
 * a pending sign-in whose `mfaToken` was never used (5 minutes) and an enrolment never activated
 * (15 minutes). Live ones, and active factors, stay. Rows made over HTTP in workerd, the clean-up
 * run at a later instant.
 */
import { describe, expect, it, vi } from "vitest";
import { purgeExpired } from "../../src/maintenance";
import { call, env, json, login, verifiedAccount } from "../helpers";
import { firstFactor, mfaAccount, verify } from "../mfa/helpers";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });

const count = async (sql: string, ...binds: unknown[]) => (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())!.n;
const challenges = (userId: string) => count("SELECT count(*) AS n FROM mfa_challenges WHERE user_id = ?", userId);
const factors = (userId: string, active: boolean) =>
  count(`SELECT count(*) AS n FROM mfa_factors WHERE user_id = ? AND activated_at IS ${active ? "NOT NULL" : "NULL"}`, userId);

describe("scheduled clean-up of the second factor's leftovers", () => {
  it("drops an abandoned pending sign-in and an enrolment never activated once expired, and keeps them before", async () => {
    const account = await mfaAccount("purge-mfa");
    const pending = await firstFactor(account);
    const enrolling = await verifiedAccount("purge-enrol");
    const pair = await login(enrolling);
    expect((await call("/v1/auth/mfa/totp", { body: { password: enrolling.password }, token: pair.accessToken })).status).toBe(200);
    expect(await challenges(account.userId)).toBe(1);
    expect(await factors(enrolling.userId, false)).toBe(1);

    // Within their lifetimes nothing goes.
    await purgeExpired(env as Env, Date.now() + 60_000);
    expect(await challenges(account.userId)).toBe(1);
    expect(await factors(enrolling.userId, false)).toBe(1);

    // Past them, both go; the account's active factor stays, and it still signs in with a new pending sign-in.
    await purgeExpired(env as Env, Date.now() + 16 * 60_000);
    expect(await challenges(account.userId)).toBe(0);
    expect(await factors(enrolling.userId, false)).toBe(0);
    expect(await factors(account.userId, true)).toBe(1);
    expect((await verify({ mfaToken: pending.mfaToken, code: await account.authenticator.next() })).status).toBe(401);
    const again = await firstFactor(account);
    const signedIn = await verify({ mfaToken: again.mfaToken, code: await account.authenticator.next() });
    expect(signedIn.status).toBe(200);
    expect((await json(signedIn)).aal).toBe("aal2");
  });
});
