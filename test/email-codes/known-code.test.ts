/**
 * Issue 27, slice 6 for email codes (src/email-codes/known-code.ts, src/sessions/spent-proofs.ts): a
 * right code of a verified owner is spent in the user's Durable Object with the session, and its D1
 * row is deleted by the object's outbox after the answer. Until then only the object's record stands
 * between the row and a second use: these tests hold the object's D1 writes to show it does. Over
 * HTTP in workerd with the real D1 and objects.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/email-codes/known-code.test.ts
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { isSpent, markSpent } from "../../src/sessions/spent-proofs";
import { call, env, expectError, json, login, verifiedAccount } from "../helpers";
import { holdObjectD1, userObject } from "../helpers/edge";
import { requestCode } from "../helpers/email-code";
import { countActivity } from "../helpers/activity";

const verify = (email: string, code: string) => call("/v1/auth/email-code/verify", { body: { email, code } });
const codeRow = (email: string) => env.DB.prepare("SELECT attempts FROM email_codes WHERE email_normalized = ?").bind(email.toLowerCase()).first<{ attempts: number }>();

describe("a right code of a known address is spent in the user's object (slice 6)", () => {
  it("a replay while the code's D1 delete is still owed is refused by the object's record, and counted as a wrong try", async () => {
    const account = await verifiedAccount("known-owed");
    const first = await login(account);
    // Nothing owed and the guard current: the code's session needs no D1 trip from the object.
    await userObject(account.userId).settle();
    const code = await requestCode(account.email, 2);
    const held = await holdObjectD1(account.userId);
    let replay: Response;
    try {
      const signedIn = await verify(account.email, code);
      expect(signedIn.status).toBe(200);
      // The object owes D1 the session and the code's delete: the row is still there, as live as before.
      expect(await codeRow(account.email)).toEqual({ attempts: 0 });
      const replaying = verify(account.email, code);
      held.open();
      replay = await replaying;
    } finally {
      await held.restore();
    }
    await expectError(replay, 401, "invalid_credentials");
    await userObject(account.userId).settle();
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBe(1);
    // One session by code: the password's and the code's, nothing more.
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions).toHaveLength(2);
  });

  it("five right answers at once: one session, four wrong tries", async () => {
    const account = await verifiedAccount("known-five");
    await login(account);
    const code = await requestCode(account.email, 2);
    const statuses = (await Promise.all(Array.from({ length: 5 }, () => verify(account.email, code)))).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401]);
    await userObject(account.userId).settle();
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBe(4);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    expect(await codeRow(account.email)).toBeNull();
  });

  it("a cold object (nothing held yet) decides the same way", async () => {
    const account = await verifiedAccount("known-cold");
    const code = await requestCode(account.email, 2);
    const statuses = (await Promise.all([verify(account.email, code), verify(account.email, code)])).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 401]);
    await userObject(account.userId).settle();
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
  });

  it("the record keeps a spent proof until it expires, then drops it at the next record", async () => {
    const account = await verifiedAccount("known-record");
    await login(account);
    await runInDurableObject(userObject(account.userId), (_object, state) => {
      const now = Date.now();
      markSpent(state.storage.sql, { key: "email-code:old", expiresAt: now + 1_000 }, now);
      expect(isSpent(state.storage.sql, "email-code:old", now)).toBe(true);
      expect(isSpent(state.storage.sql, "email-code:old", now + 1_000)).toBe(false);
      markSpent(state.storage.sql, { key: "email-code:new", expiresAt: now + 60_000 }, now + 2_000);
      const keys = state.storage.sql.exec<{ key: string }>("SELECT key FROM spent_proofs ORDER BY key").toArray().map((r) => r.key);
      expect(keys).toEqual(["email-code:new"]);
    });
  });
});
