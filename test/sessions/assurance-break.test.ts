/**
 * Adversarial review of issue 27's slice 9: the user's object holds a session's assurance (API.md
 * §15), D1's row none, and a session from before keeps D1's until a vouched mark copies it. What
 * an object already held when slice 9 was deployed was written by the code before it: its copy of
 * a session's assurance was refreshed only by a *current* mark, so a step-up whose mark a
 * concurrent change skipped left D1 aal2 and the copy aal1 (harmless then: a stale epoch sends the
 * next refresh to D1). Slice 9 must not take such a copy as of record. And a row from before the
 * second factor (aal null, amr its sign-in method) must keep a step-up through refreshes that read D1.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run test/sessions/assurance-break.test.ts
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, call, claims, inUserSessions, json, login, refreshWith, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { sha256 } from "../../src/crypto";
import { enableMfa, firstFactor, mfaAccount, verify } from "../mfa/helpers";

// A TOTP step's code is accepted once: a test may wait up to one 30-second step for a fresh one.
vi.setConfig({ testTimeout: 90_000 });

const heldAssurance = (userId: string, sessionId: string) =>
  inUserSessions(userId, (sql) => sql.exec("SELECT aal, amr, auth_time FROM session_state WHERE id = ?", sessionId).one());
const unvouch = (userId: string, sessionId: string) => inUserSessions(userId, (sql) => sql.exec("UPDATE session_state SET checked_epoch = NULL WHERE id = ?", sessionId));

/** An account with a factor enabled from a second session, and its first session, aal1 (password). */
async function aal1SessionOfMfaAccount(label: string) {
  const account = await verifiedAccount(label);
  const first = await login(account);
  const factor = await enableMfa((await login(account)).accessToken, PASSWORD);
  expect(claims(first.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
  return { account, first, factor };
}

/**
 * POST /v1/auth/mfa/step-up with a fresh code from `token`, then a refresh that reads D1 (the mark
 * cleared): both aal2 with `password totp`, the refresh keeping the step-up's auth_time.
 */
async function stepUpThenRefresh(userId: string, sessionId: string, factor: { authenticator: { next(): Promise<string> } }, token: string) {
  const stepped = await call("/v1/auth/mfa/step-up", { body: { code: await factor.authenticator.next() }, token });
  expect(stepped.status, await stepped.clone().text()).toBe(200);
  const pair = await json(stepped);
  expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
  await unvouch(userId, sessionId);
  const refreshed = await json(await refreshWith(pair.refreshToken));
  expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: claims(pair.accessToken).auth_time });
  return { pair, refreshed };
}

describe("slice 9: a copy of a session's assurance the object kept before it", () => {
  it("a step-up before the deploy whose mark was skipped: D1's aal2 is of record, not the object's stale aal1 copy", async () => {
    const { account, first } = await aal1SessionOfMfaAccount("ab-stale-copy");
    // The state the code before slice 9 left: the sign-in wrote D1's row with its assurance and the hold
    // copied it (aal1, password); a step-up then wrote D1 (aal2, password totp, now), and its mark was
    // skipped (a change overlapped it: the epoch moved, so the copy is neither current nor updated).
    const signedIn = claims(first.accessToken).auth_time * 1000;
    const steppedAt = Date.now() - 60_000;
    await env.DB.prepare("UPDATE sessions SET aal = 'aal2', amr = 'password totp', auth_time = ? WHERE user_id = ? AND id = ?").bind(steppedAt, account.userId, first.sessionId).run();
    await inUserSessions(account.userId, (sql) =>
      sql.exec("UPDATE session_state SET checked_epoch = NULL, aal = 'aal1', amr = 'password', auth_time = ? WHERE id = ?", signedIn, first.sessionId),
    );
    const refreshed = await json(await refreshWith(first.refreshToken));
    expect(claims(refreshed.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: Math.floor(steppedAt / 1000) });
    // And it stays so: the next refresh (vouched now) and one after its mark is cleared.
    const again = await json(await refreshWith(refreshed.refreshToken));
    expect(claims(again.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    await unvouch(account.userId, first.sessionId);
    const cold = await json(await refreshWith(again.refreshToken));
    expect(claims(cold.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: Math.floor(steppedAt / 1000) });
  });

  it("a session from before slice 9 (D1 of record, copied by a mark) steps up after it and keeps aal2 through refreshes that read D1", async () => {
    const { account, first, factor } = await aal1SessionOfMfaAccount("ab-legacy-step");
    // As the code before slice 9 wrote it: D1's row and the object's vouched copy agree (aal1, password).
    const signedIn = claims(first.accessToken).auth_time * 1000;
    await env.DB.prepare("UPDATE sessions SET aal = 'aal1', amr = 'password', auth_time = ? WHERE user_id = ? AND id = ?").bind(signedIn, account.userId, first.sessionId).run();
    await unvouch(account.userId, first.sessionId);
    const copied = await json(await refreshWith(first.refreshToken));
    expect(claims(copied.accessToken)).toMatchObject({ aal: "aal1", amr: ["password"] });
    expect(await heldAssurance(account.userId, first.sessionId)).toMatchObject({ aal: "aal1", amr: "password" });
    const { pair, refreshed } = await stepUpThenRefresh(account.userId, first.sessionId, factor, copied.accessToken);
    const vouched = await json(await refreshWith(refreshed.refreshToken));
    expect(claims(vouched.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "totp"], auth_time: claims(pair.accessToken).auth_time });
  });

  it("a row from before the second factor (aal null, amr its method) steps up and keeps aal2 with both methods", async () => {
    const { account, first, factor } = await aal1SessionOfMfaAccount("ab-pre-factor");
    // Migration 0005 left such a row aal null, amr its sign-in method, auth_time null; the object holds no copy.
    await env.DB.prepare("UPDATE sessions SET aal = NULL, amr = 'password', auth_time = NULL WHERE user_id = ? AND id = ?").bind(account.userId, first.sessionId).run();
    await inUserSessions(account.userId, (sql) => sql.exec("UPDATE session_state SET checked_epoch = NULL, aal = NULL, amr = NULL, auth_time = NULL WHERE id = ?", first.sessionId));
    await stepUpThenRefresh(account.userId, first.sessionId, factor, first.accessToken);
  });
});

/**
 * `toLegacyLayout` (test/helpers/accounts.ts) with what that layout also kept: D1's row records the
 * session's assurance, as every sign-in wrote it before slice 9 (the helper leaves the row's none).
 */
async function legacyWithAssurance(pair: Json) {
  const { runInDurableObject, evictDurableObject } = await import("cloudflare:test");
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(pair.user.id));
  await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => state.storage.deleteAll());
  await evictDurableObject(stub);
  const { aal, amr, auth_time } = claims(pair.accessToken);
  await env.DB.prepare("UPDATE sessions SET first_refresh_token_hash = ?, expires_at = ?, last_used_at = created_at, aal = ?, amr = ?, auth_time = ? WHERE user_id = ? AND id = ?")
    .bind(await sha256(pair.refreshToken), Date.now() + pair.refreshExpiresIn * 1000, aal, amr.join(" "), auth_time * 1000, pair.user.id, pair.sessionId)
    .run();
}

describe("slice 9: a session from before slice 7, adopted", () => {
  it("a second factor's sign-in (aal2, a recovery code) is adopted at aal2 and keeps it through refreshes that read D1", async () => {
    const account = await mfaAccount("ab-adopted");
    const pending = await firstFactor(account);
    const pair = await json(await verify({ mfaToken: pending.mfaToken, recoveryCode: account.recoveryCodes.pop() }));
    expect(claims(pair.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "recovery_code"] });
    await legacyWithAssurance(pair);
    const adopted = await json(await refreshWith(pair.refreshToken));
    expect(claims(adopted.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "recovery_code"], auth_time: claims(pair.accessToken).auth_time });
    await unvouch(account.userId, pair.sessionId);
    const cold = await json(await refreshWith(adopted.refreshToken));
    expect(claims(cold.accessToken)).toMatchObject({ aal: "aal2", amr: ["password", "recovery_code"], auth_time: claims(pair.accessToken).auth_time });
    expect(await heldAssurance(account.userId, pair.sessionId)).toMatchObject({ aal: "aal2", amr: "password recovery_code" });
  });
});
