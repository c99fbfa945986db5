/**
 * Issue 27 for email codes: a right code of a verified owner is one D1 read before `signIn` and spent
 * in the user's object with the session (slice 6, src/email-codes/known-code.ts); every other case
 * is checked in ONE D1 batch (src/email-codes/check.ts). Either way a sign-in by code makes one
 * serial trip to the D1 primary before `signIn`, and the rules of API.md §6/§11 still hold: a 429
 * changes nothing of the code, a guest's 409 leaves it usable, five wrong tries void it, and of two
 * right answers one signs in.
 * Over HTTP in workerd with the real D1 and user objects; the Worker's D1 binding is wrapped to
 * record each trip (one per batch or statement run alone) and the SQL it carried, as
 * test/helpers/edge.ts `countingD1` counts them (the user object's own D1 writes follow its answer,
 * off the request's path, so only the Worker's side is compared).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/email-codes/one-trip.test.ts
 */
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/crypto";
import { signIn } from "../../src/sessions";
import { call, countingDb, env, expectError, guest, json, login, serviceDeps, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { fetchWith, userObject } from "../helpers/edge";
import { requestCode } from "../helpers/email-code";
import { countActivity } from "../helpers/activity";

/** The Worker's D1 binding, recording every trip as the SQL of the statements it ran (test/helpers/lifecycle.ts `countingDb`). */
function recordingDb(): { db: D1Database; readonly trips: string[][] } {
  const counted = countingDb();
  return {
    db: counted.db,
    get trips() {
      return counted.sent();
    },
  };
}


const verify = (email: string, code: string, token?: string) =>
  call("/v1/auth/email-code/verify", { body: { email, code }, ...(token ? { token } : {}) });
const wrong = (code: string, i = 0) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, "0");
const codeRow = (email: string) =>
  env.DB.prepare("SELECT attempts FROM email_codes WHERE email_normalized = ?").bind(email.toLowerCase()).first<{ attempts: number }>();
/** How many users have the address (0 or 1). */
const usersWith = async (email: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email_normalized = ?").bind(email).first<Json>()).n;

/** Sets the account's failed-login counter (`login:<user id>`, or the address's hash) to `count` in a fresh window. */
async function setCounter(key: string, count: number) {
  await env.DB.prepare("INSERT INTO counters (key, window_start, count) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count")
    .bind(key, Date.now(), count)
    .run();
}

describe("a code sign-in makes one D1 trip before the session", () => {
  it("a known, verified address: Worker trips = signIn's own + 1, and that one trip is a read (slice 6)", async () => {
    const account = await verifiedAccount("one-trip");
    // What signIn makes on its own for this account, measured the same way (it may change: issue 27).
    const direct = recordingDb();
    const pending: Promise<unknown>[] = [];
    const deps = { ...serviceDeps(), env: { ...env, DB: direct.db } as Env, waitUntil: (p: Promise<unknown>) => void pending.push(p) };
    const pair = await signIn(deps, { userId: account.userId, method: "code" });
    await Promise.all(pending);
    expect(pair?.user.id).toBe(account.userId);

    const code = await requestCode(account.email, 2);
    const inWorker = recordingDb();
    const response = await fetchWith({ ...env, DB: inWorker.db } as Env, "/v1/auth/email-code/verify", { body: { email: account.email, code } });
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
    // On the Worker's side (the object's own D1 writes follow its answer: not on the request's path).
    expect(inWorker.trips.length).toBe(direct.trips.length + 1);
    // The first trip is one read (slice 6): the account's count, the owner, the code's row; nothing written.
    const [read, ...rest] = inWorker.trips;
    expect(read!.length).toBe(3);
    expect(read!.every((q) => /^\s*select\b/i.test(q))).toBe(true);
    const text = read!.join("\n");
    expect(text).toMatch(/from "counters"/i);
    expect(text).toMatch(/from "users"/i);
    expect(text).toMatch(/from "email_codes"/i);
    // Nothing after it touches the code or the counter: what follows is signIn's.
    expect(rest.flat().some((q) => /email_codes|counters/i.test(q))).toBe(false);
    // The code's row goes with the session's writes, from the user's object.
    await userObject(account.userId).settle();
    expect(await codeRow(account.email)).toBeNull();
  });
});

describe("sending a code is one D1 write", () => {
  it("the mail's count and the code are one batch; past the limit (429) the code is not replaced", async () => {
    const email = uniqueEmail("code-send");
    const recorded = recordingDb();
    const first = await fetchWith({ ...env, DB: recorded.db } as Env, "/v1/auth/email-code", { body: { email } });
    expect(first.status).toBe(200);
    // The development mail outbox's insert (a mail API in production) is left out.
    const writes = recorded.trips.filter((trip) => trip.some((q) => /^\s*(insert|update|delete)\b/i.test(q) && !/mail_outbox/i.test(q)));
    expect(writes, JSON.stringify(recorded.trips)).toHaveLength(1);
    expect(writes[0]!.some((q) => /insert into "counters"/i.test(q))).toBe(true);
    expect(writes[0]!.some((q) => /insert into "email_codes"/i.test(q))).toBe(true);
    expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
    const third = await requestCode(email, 3);
    await expectError(await call("/v1/auth/email-code", { body: { email } }), 429, "rate_limited");
    // The refused request stored no code: the third mail's code still signs in.
    expect((await verify(email, third)).status).toBe(200);
  });
});

describe("the rules, with the spend and the try decided in SQL", () => {
  it("a request answered 429 neither spends the code nor takes a try, exactly at the limit", async () => {
    const account = await verifiedAccount("one-trip-429");
    const code = await requestCode(account.email, 2);
    // Nine counted: the tenth try is still allowed (10 in 15 minutes), the eleventh is not.
    await setCounter(`login:${account.userId}`, 9);
    await expectError(await verify(account.email, wrong(code)), 401, "invalid_credentials");
    expect(await codeRow(account.email)).toEqual({ attempts: 1 });
    const refused = await expectError(await verify(account.email, code), 429, "rate_limited");
    expect(refused.statusCode).toBe(429);
    await expectError(await verify(account.email, wrong(code)), 429, "rate_limited");
    expect(await codeRow(account.email)).toEqual({ attempts: 1 });
    // Once the window has passed, the same code still works.
    await setCounter(`login:${account.userId}`, 0);
    const response = await verify(account.email, code);
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
  });

  it("an unknown address is counted under its hash: a 429 there does not spend the code either", async () => {
    const email = uniqueEmail("one-trip-429-new");
    const code = await requestCode(email, 1);
    await setCounter(`login:${await sha256(email)}`, 10);
    await expectError(await verify(email, code), 429, "rate_limited");
    expect(await codeRow(email)).toEqual({ attempts: 0 });
    expect(await usersWith(email)).toBe(0);
    await setCounter(`login:${await sha256(email)}`, 0);
    const response = await verify(email, code);
    expect(response.status).toBe(200);
    expect((await json(response)).user).toMatchObject({ email, emailVerified: true });
  });

  it("a guest's 409 leaves the code usable and takes no try, however often it is asked", async () => {
    const account = await verifiedAccount("one-trip-409");
    const g = await guest();
    const code = await requestCode(account.email, 2);
    for (let i = 0; i < 6; i++) await expectError(await verify(account.email, code, g.accessToken), 409, "conflict");
    expect(await codeRow(account.email)).toEqual({ attempts: 0 });
    // A wrong code from the guest is an ordinary wrong try.
    await expectError(await verify(account.email, wrong(code), g.accessToken), 401, "invalid_credentials");
    expect(await codeRow(account.email)).toEqual({ attempts: 1 });
    const response = await verify(account.email, code);
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
  });

  it("seven wrong tries sent together: five are taken, the code is void, and the right code is then refused", async () => {
    const account = await verifiedAccount("one-trip-void");
    const code = await requestCode(account.email, 2);
    const statuses = (await Promise.all(Array.from({ length: 7 }, (_, i) => verify(account.email, wrong(code, i))))).map((r) => r.status);
    expect(statuses).toEqual(Array(7).fill(401));
    // The fifth try dropped the row (a void code is of no further use).
    expect(await codeRow(account.email)).toBeNull();
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBe(8);
  });

  it("four wrong tries then the right code signs in (a right code takes no try)", async () => {
    const account = await verifiedAccount("one-trip-four");
    const code = await requestCode(account.email, 2);
    for (let i = 0; i < 4; i++) await expectError(await verify(account.email, wrong(code, i)), 401, "invalid_credentials");
    expect(await codeRow(account.email)).toEqual({ attempts: 4 });
    expect((await verify(account.email, code)).status).toBe(200);
    await userObject(account.userId).settle();
    expect(await codeRow(account.email)).toBeNull();
  });

  it("a code with its five tries taken cannot be spent, even before the void row is dropped", async () => {
    const email = uniqueEmail("one-trip-taken");
    const code = await requestCode(email, 1);
    // The state between a fifth wrong try's batch and its clean-up (the row still there).
    await env.DB.prepare("UPDATE email_codes SET attempts = 5 WHERE email_normalized = ?").bind(email).run();
    await expectError(await verify(email, code), 401, "invalid_credentials");
    expect(await usersWith(email)).toBe(0);
  });

  it("two right answers sent together: exactly one session starts", async () => {
    const account = await verifiedAccount("one-trip-race");
    const first = await login(account);
    const code = await requestCode(account.email, 2);
    const responses = await Promise.all([verify(account.email, code), verify(account.email, code)]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = await json(responses.find((r) => r.status === 200)!);
    const listed = await json(await call("/v1/auth/sessions", { token: first.accessToken }));
    expect(listed.sessions.map((s: Json) => s.id).sort()).toEqual([first.sessionId, winner.sessionId].sort());
  });

  it("with EMAIL_CODE_SIGN_UP=false, a right code for an unknown address is a wrong try: not spent, counted", async () => {
    const email = uniqueEmail("one-trip-nosignup");
    const code = await requestCode(email, 1);
    const off = { ...env, EMAIL_CODE_SIGN_UP: "false" } as unknown as Env;
    await expectError(await fetchWith(off, "/v1/auth/email-code/verify", { body: { email, code } }), 401, "invalid_credentials");
    expect(await codeRow(email)).toEqual({ attempts: 1 });
    expect(await usersWith(email)).toBe(0);
    // With sign-up on again the code, still live, signs up.
    expect((await verify(email, code)).status).toBe(200);
  });
});
