/**
 * The password check's gate (src/rate-limit/login-attempt.ts, attempt-gate.ts; issue 27): a password
 * sign-in reads the account's count with its row, gates the check in the account's Durable Object,
 * and writes D1 only when it fails. Over HTTP in workerd with the real D1 and objects: the count is
 * still one per account, shared by passwords, email codes and second factors; parallel guesses at an
 * unknown identifier are held exactly like those at an account; and a successful sign-in makes no D1
 * write of its own (the user object's outbox writes the session, once).
 */
import { describe, expect, it } from "vitest";
import { AttemptGate, newer } from "../../src/rate-limit/attempt-gate";
import { PASSWORD, call, env, expectError, uniqueEmail, verifiedAccount } from "../helpers";
import { countingD1 } from "../helpers/edge";
import { requestCode } from "../helpers/email-code";
import { firstFactor, mfaAccount, verify } from "../mfa/helpers";

const loginAs = (email: string, password: string) => call("/v1/auth/login", { body: { email, password } });
const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, "0");
const count = (userId: string) => env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count");

const writes = (trip: string[]) => trip.some((q) => /^\s*(insert|update|delete|replace)\b/i.test(q));

describe("the D1 writes of a password sign-in", () => {
  it("a success: the Worker reads once and writes nothing; the user object writes the session once, the count cleared in it", async () => {
    const account = await verifiedAccount("gate-writes");
    await expectError(await loginAs(account.email, "wrong-password-x"), 401, "invalid_credentials");
    const run = await countingD1(account.userId, async (fetchAs) => {
      const answer = await fetchAs("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
      expect(answer.status).toBe(200);
      await expect.poll(() => count(account.userId)).toBe(0); // the outbox, after the answer
    });
    expect(run.workerSql).toHaveLength(1);
    expect(run.workerSql.filter(writes)).toEqual([]);
    const objectWrites = run.objectSql.filter(writes);
    expect(objectWrites).toHaveLength(1);
    expect(objectWrites[0]!.some((q) => /update "counters"/i.test(q))).toBe(true);
  });

  it("a failure: one write from the Worker, its sign_in_failed event and the count in one batch", async () => {
    const account = await verifiedAccount("gate-fail-writes");
    const run = await countingD1(account.userId, (fetchAs) => fetchAs("/v1/auth/login", { body: { email: account.email, password: "wrong-password-y" } }));
    expect(run.value.status).toBe(401);
    const written = run.workerSql.filter(writes);
    expect(written).toHaveLength(1);
    expect(written[0]!.some((q) => /insert into "activity"/i.test(q))).toBe(true);
    expect(written[0]!.some((q) => /insert into "counters"/i.test(q))).toBe(true);
    expect(run.objectSql.filter(writes)).toEqual([]);
    expect(await count(account.userId)).toBe(1);
  });
});

describe("one count per account, whatever the method", () => {
  it("wrong email codes count against the password: 4 codes and 6 passwords wrong, then the right password is 429", async () => {
    const account = await verifiedAccount("gate-codes");
    const code = await requestCode(account.email, 2);
    for (let i = 0; i < 4; i++) {
      await expectError(await call("/v1/auth/email-code/verify", { body: { email: account.email, code: wrongCode(code) } }), 401, "invalid_credentials");
    }
    for (let i = 0; i < 6; i++) await expectError(await loginAs(account.email, `wrong-${i}-password`), 401, "invalid_credentials");
    await expectError(await loginAs(account.email, PASSWORD), 429, "rate_limited");
  });

  it("wrong passwords count against email codes: after 10, even the right code is 429", async () => {
    const account = await verifiedAccount("gate-passwords");
    for (let i = 0; i < 10; i++) await expectError(await loginAs(account.email, `wrong-${i}-password`), 401, "invalid_credentials");
    const code = await requestCode(account.email, 2);
    await expectError(await call("/v1/auth/email-code/verify", { body: { email: account.email, code } }), 429, "rate_limited");
  });

  it("a right password that needs a second factor stays counted until the factor is shown", async () => {
    const account = await mfaAccount("gate-mfa");
    await firstFactor(account);
    expect(await count(account.userId)).toBe(1);
    const { mfaToken } = await firstFactor(account);
    expect(await count(account.userId)).toBe(2);
    expect((await verify({ mfaToken, code: await account.authenticator.next() })).status).toBe(200);
    expect(await count(account.userId)).toBe(0);
    for (let i = 0; i < 10; i++) await firstFactor(account);
    await expectError(await loginAs(account.email, PASSWORD), 429, "rate_limited");
  });
});

describe("parallel guesses", () => {
  it("at an identifier no account has: exactly 10 checked, as for an account (the gate is a RateLimiter object)", async () => {
    const email = uniqueEmail("gate-ghost");
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => loginAs(email, `guess-${i}-wrong`)));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(10).fill(401), ...Array(14).fill(429)]);
  });

  it("right and wrong passwords at once: every right one signs in, at most 10 wrong ones are checked", async () => {
    const account = await verifiedAccount("gate-mixed");
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? loginAs(account.email, PASSWORD) : loginAs(account.email, `guess-${i}-wrong`))),
    );
    const right = answers.filter((_, i) => i % 2 === 0).map((a) => a.status);
    const wrong = answers.filter((_, i) => i % 2 === 1).map((a) => a.status);
    expect(right).toEqual(Array(8).fill(200));
    expect(wrong.every((s) => s === 401)).toBe(true);
  });
});

describe("the gate's arithmetic (src/rate-limit/attempt-gate.ts)", () => {
  const rate = { limit: 3, windowSeconds: 900 };
  const now = Date.now();

  it("a failure reported after a read counts against a check that brings the older read", async () => {
    const gate = new AttemptGate();
    const first = await gate.reserve({ ...rate, seen: null });
    if (!first.ok) throw new Error("refused");
    gate.release({ id: first.id, outcome: "failed", row: { count: 3, windowStart: now } });
    const stale = await gate.reserve({ ...rate, seen: null });
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.retryAfter).toBeGreaterThan(890);
  });

  it("a clear (a later window start in D1) wins over failures it knew of; an expired window counts nothing", async () => {
    const gate = new AttemptGate();
    const first = await gate.reserve({ ...rate, seen: null });
    if (!first.ok) throw new Error("refused");
    gate.release({ id: first.id, outcome: "failed", row: { count: 3, windowStart: now - 1000 } });
    expect((await gate.reserve({ ...rate, seen: { count: 0, windowStart: now } })).ok).toBe(true);
    expect((await new AttemptGate().reserve({ ...rate, seen: { count: 3, windowStart: now - 901_000 } })).ok).toBe(true);
    expect(newer({ count: 2, windowStart: now }, { count: 1, windowStart: now })).toEqual({ count: 2, windowStart: now });
    expect(newer({ count: 9, windowStart: now - 5 }, { count: 0, windowStart: now })).toEqual({ count: 0, windowStart: now });
  });

  it("a check short of the limit only because of checks in flight waits for them, and passes when one clears", async () => {
    const gate = new AttemptGate();
    const held = await Promise.all([gate.reserve({ ...rate, seen: null }), gate.reserve({ ...rate, seen: null }), gate.reserve({ ...rate, seen: null })]);
    const ids = held.map((h) => (h.ok ? h.id : ""));
    expect(ids.every(Boolean)).toBe(true);
    const waiting = gate.reserve({ ...rate, seen: null });
    gate.release({ id: ids[0]!, outcome: "cleared" });
    expect((await waiting).ok).toBe(true);
  });
});
