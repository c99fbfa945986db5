/**
 * Per-account and per-email limits over HTTP (API.md §6, the D1 counters of src/rate-limit/index.ts):
 * every request comes from a fresh address, so only these counters can refuse it.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, json, mailbox, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";

const WRONG = "wrong-password-1";
const loginAs = (body: Record<string, string>) => call("/v1/auth/login", { body });

/** Sends `count` logins one after another, each from a fresh address; returns the statuses. */
async function attempts(count: number, body: Record<string, string>): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push((await loginAs(body)).status);
  return result;
}

const TEN_FAILURES = Array<number>(10).fill(401);

describe("per account: 10 failed password logins in 15 minutes", () => {
  it("throttle the account from any address, whichever identifier names it", async () => {
    const account = await verifiedAccount("throttled");
    expect(await attempts(10, { email: account.email, password: WRONG })).toEqual(TEN_FAILURES);
    const right = await loginAs({ email: account.email, password: PASSWORD });
    await expectError(right, 429, "rate_limited");
    const retryAfter = Number(right.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // The username names the same account, so it is throttled too; the email in another case as well.
    await expectError(await loginAs({ username: account.username, password: PASSWORD }), 429, "rate_limited");
    await expectError(await loginAs({ email: ` ${account.email.toUpperCase()} `, password: PASSWORD }), 429, "rate_limited");
    // Another account is not.
    const other = await verifiedAccount("bystander");
    expect((await loginAs({ email: other.email, password: PASSWORD })).status).toBe(200);
  });

  it("count exactly under concurrency: 20 parallel guesses, 10 reach the password check", async () => {
    const account = await verifiedAccount("parallel");
    const answers = await Promise.all(Array.from({ length: 20 }, () => loginAs({ email: account.email, password: WRONG })));
    const codes = answers.map((r) => r.status).sort();
    expect(codes).toEqual([...TEN_FAILURES, ...Array<number>(10).fill(429)]);
  });

  it("a successful login resets the count", async () => {
    const account = await verifiedAccount("resets");
    expect(await attempts(9, { email: account.email, password: WRONG })).toEqual(TEN_FAILURES.slice(1));
    expect((await loginAs({ email: account.email, password: PASSWORD })).status).toBe(200);
    // A fresh allowance of ten, by username this time: the count is the account's, not the identifier's.
    expect(await attempts(10, { username: account.username, password: WRONG })).toEqual(TEN_FAILURES);
    await expectError(await loginAs({ email: account.email, password: PASSWORD }), 429, "rate_limited");
  });

  it("unknown accounts are counted the same way, so a 429 reveals nothing", async () => {
    const known = await verifiedAccount("known");
    const unknownEmail = uniqueEmail("ghost");
    const knownCodes = await attempts(11, { email: known.email, password: WRONG });
    const unknownCodes = await attempts(11, { email: unknownEmail, password: WRONG });
    expect(unknownCodes).toEqual([...TEN_FAILURES, 429]);
    expect(unknownCodes).toEqual(knownCodes);
    const knownBody = await json(await loginAs({ email: known.email, password: WRONG }));
    const unknownBody = await json(await loginAs({ email: unknownEmail, password: WRONG }));
    expect(unknownBody).toEqual(knownBody);
    // Unknown usernames too.
    expect(await attempts(11, { username: uniqueUsername("ghost"), password: WRONG })).toEqual([...TEN_FAILURES, 429]);
  });
});

describe("per email: 3 recovery mails an hour, whatever the address", () => {
  const forgot = (email: string) => call("/v1/auth/forgot-password", { body: { email } });
  const resend = (email: string) => call("/v1/auth/resend-verification", { body: { email } });

  it("forgot-password: the fourth in an hour is refused and no fourth mail is sent", async () => {
    const account = await verifiedAccount("forgot");
    for (let i = 0; i < 3; i++) expect((await forgot(account.email)).status).toBe(200);
    const refused = await forgot(account.email);
    await expectError(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(3500);
    // The same address in another form is the same address.
    await expectError(await forgot(`  ${account.email.toUpperCase()}`), 429, "rate_limited");
    const resets = (await mailbox(account.email, 4, 1500)).filter((m) => m.text.includes("/reset-password"));
    expect(resets).toHaveLength(3);
  });

  it("forgot-password and resend-verification share the count", async () => {
    const email = uniqueEmail("unverified");
    const registered = await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(registered.status).toBe(201);
    expect((await resend(email)).status).toBe(200);
    expect((await forgot(email)).status).toBe(200);
    expect((await resend(email)).status).toBe(200);
    await expectError(await resend(email), 429, "rate_limited");
    await expectError(await forgot(email), 429, "rate_limited");
    // One mail from registering, then only as many as were allowed.
    const verifications = (await mailbox(email, 4, 1500)).filter((m) => m.text.includes("/verify-email"));
    expect(verifications).toHaveLength(3);
  });

  it("unknown addresses are counted the same way, and other addresses are untouched", async () => {
    const ghost = uniqueEmail("ghost");
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await (i % 2 ? resend(ghost) : forgot(ghost))).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    expect((await forgot(uniqueEmail("other"))).status).toBe(200);
  });
});
