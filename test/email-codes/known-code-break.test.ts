/**
 * Part 1 (races and replays; part 2, the account's limit and second factors: known-code-break-limits.test.ts).
 * A reviewer's attacks on the common case of a sign-in by mailed code (issue 27, slice 6:
 * src/email-codes/known-code.ts, src/sessions/spent-proofs.ts): a right code of a verified owner is
 * read once from D1, gated in the account's object like a password, and spent in the user's object
 * with the session, its D1 row deleted by the object's outbox after the answer. Over HTTP in workerd
 * with the real D1 and Durable Objects; nothing is mocked. Timing is forced, never hoped for:
 *
 * - `holdAfterReserve()`: the Worker's `USER_SESSIONS` binding answers `reserveAttempt` (the real
 *   reservation, made) only when the test says so, so a code sign-in is held between its D1 read and
 *   its session while something else happens (a disable, a deletion, a new code, an email change);
 * - `holdObjectWrites(userId)`: the user object's D1 binding holds (or fails) only its outbox's
 *   batches (the ones that insert a session), so its reads still go through.
 *
 * Three tests found real bugs, fixed since (src/sessions/session-start.ts `passes`,
 * src/email-codes/known-code.ts, src/sessions/issue.ts): a right code held between its read and its session while its owner
 * moves to another address is spent twice (the object's record is per account, the row per
 * address: the owner's late session and a sign-up's, or a guest's upgrade, from one code; now the
 * account must still use the code's address), and a deletion in that window left the deleted user's
 * object with storage (`beginChange(spend)` opens the token store to record the proof; now erased).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/email-codes/known-code-break.test.ts
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, env, expectError, guest, json, login, mailedToken, objectStorage, rowsOfUser, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { holdObjectD1 } from "../helpers/edge";
import { requestCode } from "../helpers/email-code";
import { countActivity } from "../helpers/activity";
import { enableMfa, mfaAccount, verify as mfaVerify } from "../mfa/helpers";
import { verify, wrong, codeRow, liveSessionsInD1, settle, me, expectNoInternal, accountWithCode, heldAtGate, holdObjectWrites } from "./break-helpers";

describe("one code, one session: right answers in parallel, mixed with wrong ones and guests", () => {
  it("6 right answers, 2 wrong codes and 2 guests' tokens at once: one session, guests untouched, each 401 recorded once", async () => {
    const account = await verifiedAccount("cb-storm");
    const first = await login(account);
    await settle(account.userId);
    const guests = [await guest(), await guest()];
    const code = await requestCode(account.email, 2);
    const kinds = ["right", "wrong", "right", "guest", "right", "right", "wrong", "guest", "right", "right"] as const;
    let wrongs = 0;
    let guestsAsked = 0;
    const answers = await Promise.all(
      kinds.map((kind) =>
        kind === "right" ? verify(account.email, code) : kind === "wrong" ? verify(account.email, wrong(code, wrongs++)) : verify(account.email, code, guests[guestsAsked++]!.accessToken),
      ),
    );
    for (const answer of answers) await expectNoInternal(answer);
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    const winner = await json(answers[statuses.indexOf(200)]!);
    expect(winner.user.id).toBe(account.userId);
    expect(kinds[statuses.indexOf(200)]).toBe("right");
    kinds.forEach((kind, i) => {
      if (kind === "wrong") expect(statuses[i]).toBe(401);
      if (kind === "guest") expect([401, 409]).toContain(statuses[i]);
      if (kind === "right" && statuses[i] !== 200) expect(statuses[i]).toBe(401);
    });
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    // One session by code: the password's and the winner's are all the account has.
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, winner.sessionId].sort());
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    // Every 401 is one `sign_in_failed` of the owner (a lost race, a wrong code, a guest after the spend); a 409 none.
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBe(statuses.filter((s) => s === 401).length);
    // The guests were neither upgraded nor merged.
    for (const g of guests) {
      const body = await json(await me(g.accessToken));
      expect(body.user).toMatchObject({ id: g.user.id, isGuest: true });
    }
    // The winner's session works; the code does not, whoever asks.
    expect((await me(winner.accessToken)).status).toBe(200);
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    await expectError(await verify(account.email, code, guests[0]!.accessToken), 401, "invalid_credentials");
  });
});

describe("a replay while the object still owes the code's delete", () => {
  it("outbox failing: replays are 503 (never 500, never a session), a guest's is 409 and changes nothing; once D1 is back the replay is 401", async () => {
    const account = await verifiedAccount("cb-fail");
    const first = await login(account);
    await settle(account.userId);
    const g = await guest();
    const code = await requestCode(account.email, 2);
    const broken = await holdObjectWrites(account.userId, true);
    let signedIn: Json;
    try {
      const answer = await verify(account.email, code);
      expect(answer.status).toBe(200);
      signedIn = await json(answer);
      // The row is still in D1, live: only the object's record stands between it and a second use.
      expect(await codeRow(account.email)).toEqual({ attempts: 0 });
      const replays = await Promise.all([verify(account.email, code), verify(account.email, code), verify(account.email, code, g.accessToken)]);
      for (const replay of replays) await expectNoInternal(replay);
      expect(replays.map((r) => r.status)).not.toContain(200);
      expect(replays[0]!.status).toBe(503);
      expect(replays[1]!.status).toBe(503);
      expect(replays[2]!.status).toBe(409);
      // The object did try to write what it owes (and failed): the replays met that, not a missing entry.
      expect(broken.heldBatches()).toBeGreaterThanOrEqual(1);
    } finally {
      await broken.restore();
    }
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, signedIn.sessionId].sort());
    expect((await json(await me(g.accessToken))).user).toMatchObject({ id: g.user.id, isGuest: true });
  });

  it("outbox held: a replay waits for it and is then 401; the session it was spent for is the only one", async () => {
    const account = await verifiedAccount("cb-held");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const held = await holdObjectD1(account.userId);
    let replays: Response[];
    try {
      expect((await verify(account.email, code)).status).toBe(200);
      const replaying = Promise.all([verify(account.email, code), verify(account.email, code), verify(account.email, wrong(code))]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      held.open();
      replays = await replaying;
    } finally {
      await held.restore();
    }
    expect(replays.map((r) => r.status)).toEqual([401, 401, 401]);
    await settle(account.userId);
    expect(await codeRow(account.email)).toBeNull();
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(1);
    expect(await liveSessionsInD1(account.userId)).toBe(2);
  });
});

describe("what happens between a right code's read and its session (held at the gate)", () => {
  it("a disable lands in between: 403 account_disabled, no session; enabled again, the code is spent", async () => {
    const { account, first, code } = await accountWithCode("cb-disable");
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code } });
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    held.open();
    await expectError(await signingIn, 403, "account_disabled");
    await settle(account.userId);
    expect(await liveSessionsInD1(account.userId)).toBe(0);
    await expectError(await me(first.accessToken), 401, "invalid_token");
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    // A disabled owner's right code is spent (docs: src/email-codes/index.ts), whichever path saw the disable.
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    expect(await liveSessionsInD1(account.userId)).toBe(0);
  });

  it("a second factor is activated in between: 403 mfa_required, no aal1 session; mfa/verify completes it", async () => {
    const { account, first, code } = await accountWithCode("cb-factor");
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code } });
    const factor = await enableMfa(first.accessToken, account.password);
    held.open();
    const challenge = await expectError(await signingIn, 403, "mfa_required");
    await settle(account.userId);
    // Only the calling session (now aal2): the code started none of its own.
    expect(await liveSessionsInD1(account.userId)).toBe(1);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(0);
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    const completed = await mfaVerify({ mfaToken: challenge.mfaToken, code: await factor.authenticator.next() });
    expect(completed.status).toBe(200);
    expect((await json(completed)).aal).toBe("aal2");
    expect(await liveSessionsInD1(account.userId)).toBe(2);
  });

  it("the account is deleted in between: no 500, no session, and the deleted user's object keeps nothing", async () => {
    const account = await verifiedAccount("cb-delete");
    await login(account);
    await settle(account.userId);
    const code = await requestCode(account.email, 2);
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code } });
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    held.open();
    const answer = await signingIn;
    const body = await expectNoInternal(answer);
    expect(answer.status, JSON.stringify(body)).toBe(401);
    const rows = await rowsOfUser(account.userId, account.email.toLowerCase());
    // Counters too: a failure is counted only while the account exists.
    expect(rows).toEqual({ users: 0, sessions: 0, identities: 0, passkeys: 0, webauthn_challenges: 0, one_time_tokens: 0, activity: 0, counters: 0, email_codes: 0 });
    // API.md §9: deletion removes the user object's storage; a sign-in that raced it must not bring any back.
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("control: a password sign-in held the same way across the deletion leaves the object empty (what the code's spend breaks)", async () => {
    const account = await verifiedAccount("cb-delete-pw");
    await login(account);
    await settle(account.userId);
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, password: PASSWORD } }, "/v1/auth/login");
    expect((await adminCall(`/users/${account.userId}`, { method: "DELETE" })).status).toBe(204);
    held.open();
    const answer = await signingIn;
    await expectNoInternal(answer);
    expect(answer.status).not.toBe(200);
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
  });

  it("a new code is requested in between: the old code's late spend never voids the new code", async () => {
    const account = await verifiedAccount("cb-newcode");
    await login(account);
    await settle(account.userId);
    const old = await requestCode(account.email, 2);
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code: old } });
    const fresh = await requestCode(account.email, 3);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    expect([200, 401]).toContain(late.status);
    await settle(account.userId);
    // The old code's delete names its own hash: the new row is there, untouched.
    if (fresh !== old) expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    const byFresh = await verify(account.email, fresh);
    expect(byFresh.status).toBe(200);
    expect((await json(byFresh)).user.id).toBe(account.userId);
    await expectError(await verify(account.email, old), 401, "invalid_credentials");
    await settle(account.userId);
    expect(await countActivity(account.userId, "sign_in", "code")).toBe(late.status === 200 ? 2 : 1);
  });

  it("an account with a second factor, a new code requested in between: the old code starts nothing (its D1 path finds it replaced), the new one asks for the factor", async () => {
    const account = await mfaAccount("cb-newcode-mfa");
    const old = await requestCode(account.email, 3); // after the verification and the factor's notice
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code: old } });
    const fresh = await requestCode(account.email, 4);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    expect([401, 403]).toContain(late.status);
    // The old code's pending sign-in, if any, is the only one; the new code is untouched by the old one's batch.
    if (fresh !== old) expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    await expectError(await verify(account.email, fresh), 403, "mfa_required");
    const pending = await env.DB.prepare("SELECT count(*) AS n FROM mfa_challenges WHERE user_id = ?").bind(account.userId).first<number>("n");
    expect(pending).toBe(late.status === 403 ? 2 : 1);
    await expectError(await verify(account.email, fresh), 401, "invalid_credentials");
  });

  it("the owner moves to another address in between: the code still signs in at most once (no second account's session from it)", async () => {
    const { account, first: pair, code } = await accountWithCode("cb-move");
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code } });
    // Meanwhile the owner changes the account's address (confirmed), freeing the old one.
    const next = uniqueEmail("cb-move-next");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    const token = await mailedToken(next, "/confirm-email-change");
    expect((await call("/v1/auth/confirm-email-change", { body: { token } })).status).toBe(200);
    // The object's outbox writes follow its answers; hold them so the replay below comes before them.
    const outbox = await holdObjectWrites(account.userId);
    let late: Response;
    let replay: Response;
    try {
      held.open();
      late = await signingIn;
      replay = await verify(account.email, code);
    } finally {
      outbox.open();
      await outbox.restore();
    }
    await expectNoInternal(late);
    await expectNoInternal(replay);
    await settle(account.userId);
    const statuses = [late.status, replay.status];
    // API.md §11: a code is single use. Two 200s would be two sessions (two accounts) from one code.
    expect(statuses.filter((s) => s === 200).length, `answers ${statuses.join(", ")}`).toBeLessThanOrEqual(1);
    if (replay.status === 200) expect((await json(replay)).user.id).not.toBe(account.userId);
    expect(await codeRow(account.email)).toBeNull();
  });

  it("the owner moves away in between and a guest takes the freed address with the same code: still one use (no outbox held)", async () => {
    const account = await verifiedAccount("cb-move-guest");
    const pair = await login(account);
    await settle(account.userId);
    const g = await guest();
    const code = await requestCode(account.email, 2);
    const { held, signingIn } = await heldAtGate({ body: { email: account.email, code } });
    const next = uniqueEmail("cb-move-guest-next");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: next, password: PASSWORD } })).status).toBe(200);
    expect((await call("/v1/auth/confirm-email-change", { body: { token: await mailedToken(next, "/confirm-email-change") } })).status).toBe(200);
    // The address is free: a guest proves it with the same code (upgraded in place, API.md §11).
    const upgraded = await verify(account.email, code, g.accessToken);
    await expectNoInternal(upgraded);
    held.open();
    const late = await signingIn;
    await expectNoInternal(late);
    await settle(account.userId);
    const statuses = [upgraded.status, late.status];
    expect(statuses.filter((s) => s === 200).length, `guest ${upgraded.status}, owner ${late.status}`).toBeLessThanOrEqual(1);
    expect(await countActivity(account.userId, "sign_in", "code") + (upgraded.status === 200 ? 1 : 0)).toBeLessThanOrEqual(1);
  });
});
