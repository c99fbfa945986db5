/**
 * Changing the email address (API.md §9): re-authentication, the link to the new address and the
 * notices to the old one, the old address signing in until confirmation, a second request
 * replacing the first link, 409 when taken (before or meanwhile), and two accounts racing for one
 * address: exactly one wins, the other gets 409 with nothing written and its token unspent.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { countActivity } from "../helpers/activity";
import {
  BASE, PASSWORD, call, expectError, guest, json, login, mailbox, mailedToken, uniqueEmail, verifiedAccount,
} from "../helpers";

const changeEmail = (accessToken: string, body: Record<string, unknown>) => call("/v1/auth/change-email", { token: accessToken, body });
const confirm = (token: string) => call("/v1/auth/confirm-email-change", { body: { token } });
const loginStatus = async (email: string) => (await call("/v1/auth/login", { body: { email, password: PASSWORD } })).status;

describe("POST /v1/auth/change-email and /confirm-email-change", () => {
  it("moves the account after the new address confirms it; the old signs in until then; sessions are kept", async () => {
    const account = await verifiedAccount("change-email");
    const pair = await login(account);
    const newEmail = uniqueEmail("moved");

    await expectError(await changeEmail(pair.accessToken, { newEmail }), 400, "invalid_request");
    await expectError(await changeEmail(pair.accessToken, { newEmail, password: "not-the-password-1" }), 401, "invalid_credentials");
    const requested = await changeEmail(pair.accessToken, { newEmail, password: PASSWORD });
    expect(requested.status).toBe(200);
    expect(requested.headers.get("RateLimit-Limit")).toBe("20");
    expect(typeof (await json(requested)).message).toBe("string");

    const token = await mailedToken(newEmail, "/confirm-email-change");
    const link = (await mailbox(newEmail))[0]!.text.match(/https?:\/\/\S+/)![0];
    expect(link.startsWith(`${BASE}/confirm-email-change?token=`)).toBe(true);
    const stored = await env.DB.prepare("SELECT email, expires_at - created_at AS ttl FROM one_time_tokens WHERE user_id = ? AND purpose = 'change_email'")
      .bind(account.userId)
      .first<{ email: string; ttl: number }>();
    expect(stored).toEqual({ email: newEmail, ttl: 24 * 3_600_000 });
    const notices = await mailbox(account.email, 2);
    expect(notices[0]!.text).toContain(newEmail);
    expect(await loginStatus(account.email)).toBe(200);
    expect(await loginStatus(newEmail)).toBe(401);

    const confirmed = await confirm(token);
    expect(confirmed.status).toBe(200);
    const { user } = await json(confirmed);
    expect(user).toMatchObject({ id: account.userId, email: newEmail, emailVerified: true });
    expect(await loginStatus(newEmail)).toBe(200);
    expect(await loginStatus(account.email)).toBe(401);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect((await mailbox(account.email, 3))[0]!.subject).toContain("email was changed");
    const events = (await json(await call("/v1/auth/activity", { token: pair.accessToken }))).events.map((e: { type: string }) => e.type);
    expect(events.filter((t: string) => t.startsWith("email_"))).toEqual(["email_changed", "email_change_requested", "email_verified"]);
    const spent = await expectError(await confirm(token), 400, "invalid_request");
    expect(spent.details[0].field).toBe("token");
  });

  it("a second request replaces the first link", async () => {
    const account = await verifiedAccount("change-twice");
    const pair = await login(account);
    const first = uniqueEmail("first");
    const second = uniqueEmail("second");
    expect((await changeEmail(pair.accessToken, { newEmail: first, password: PASSWORD })).status).toBe(200);
    const firstToken = await mailedToken(first, "/confirm-email-change");
    expect((await changeEmail(pair.accessToken, { newEmail: second, password: PASSWORD })).status).toBe(200);
    const secondToken = await mailedToken(second, "/confirm-email-change");
    await expectError(await confirm(firstToken), 400, "invalid_request");
    expect((await json(await confirm(secondToken))).user.email).toBe(second);
  });

  it("answers 409 for a taken address, at the request and when taken meanwhile; 403 for a guest", async () => {
    const account = await verifiedAccount("change-taken");
    const other = await verifiedAccount("owner");
    const pair = await login(account);
    await expectError(await changeEmail(pair.accessToken, { newEmail: other.email.toUpperCase(), password: PASSWORD }), 409, "conflict");

    const wanted = uniqueEmail("wanted");
    expect((await changeEmail(pair.accessToken, { newEmail: wanted, password: PASSWORD })).status).toBe(200);
    const token = await mailedToken(wanted, "/confirm-email-change");
    expect((await call("/v1/auth/register", { body: { email: wanted, password: PASSWORD } })).status).toBe(201);
    await expectError(await confirm(token), 409, "conflict");
    expect((await json(await call("/v1/auth/me", { token: pair.accessToken }))).user.email).toBe(account.email);

    const visitor = await guest();
    await expectError(await changeEmail(visitor.accessToken, { newEmail: uniqueEmail("g") }), 403, "forbidden");
  });

  it("limits the mails to one new address like the recovery mails: 3 an hour, whoever asks; a refusal writes nothing", async () => {
    const a = await verifiedAccount("flood-a");
    const b = await verifiedAccount("flood-b");
    const [pa, pb] = [await login(a), await login(b)];
    const target = uniqueEmail("flooded");
    // A wrong password mails nothing, so it is not counted.
    await expectError(await changeEmail(pa.accessToken, { newEmail: target, password: "not-the-password-1" }), 401, "invalid_credentials");
    expect((await changeEmail(pa.accessToken, { newEmail: target, password: PASSWORD })).status).toBe(200);
    expect((await changeEmail(pa.accessToken, { newEmail: target, password: PASSWORD })).status).toBe(200);
    expect((await changeEmail(pb.accessToken, { newEmail: target, password: PASSWORD })).status).toBe(200);
    const bToken = await mailedToken(target, "/confirm-email-change", 3);

    for (const pair of [pb, pa]) {
      const refused = await changeEmail(pair.accessToken, { newEmail: target.toUpperCase(), password: PASSWORD });
      await expectError(refused, 429, "rate_limited");
      expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
      expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(3600);
    }
    // Another address is not affected.
    expect((await changeEmail(pa.accessToken, { newEmail: uniqueEmail("elsewhere"), password: PASSWORD })).status).toBe(200);

    await new Promise((r) => setTimeout(r, 300));
    expect(await mailbox(target, 4, 500)).toHaveLength(3);
    // The refused request replaced nothing: b's link (the newest) still works.
    expect((await json(await confirm(bToken))).user).toMatchObject({ id: b.userId, email: target });
  });

  it("two accounts confirming one address at once: exactly one wins, the other gets 409 and keeps an unspent token", async () => {
    const a = await verifiedAccount("race-a");
    const b = await verifiedAccount("race-b");
    const target = uniqueEmail("contested");
    const [pa, pb] = [await login(a), await login(b)];
    expect((await changeEmail(pa.accessToken, { newEmail: target, password: PASSWORD })).status).toBe(200);
    expect((await changeEmail(pb.accessToken, { newEmail: target, password: PASSWORD })).status).toBe(200);
    const messages = await mailbox(target, 2);
    const tokens = messages.map((m) => new URL(m.text.match(/https?:\/\/\S+confirm-email-change\S+/)![0]).searchParams.get("token")!);

    const answers = await Promise.all(tokens.map((t) => confirm(t)));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const owners = await env.DB.prepare("SELECT id, email FROM users WHERE id IN (?, ?)").bind(a.userId, b.userId).all<{ id: string; email: string }>();
    const moved = owners.results.filter((u) => u.email === target);
    expect(moved).toHaveLength(1);
    const loser = owners.results.find((u) => u.email !== target)!;
    expect([a.email, b.email]).toContain(loser.email);
    const events = { [a.userId]: await countActivity(a.userId, "email_changed"), [b.userId]: await countActivity(b.userId, "email_changed") };
    expect(events).toEqual({ [moved[0]!.id]: 1, [loser.id]: 0 });
    const unspent = await env.DB.prepare("SELECT COUNT(*) AS n FROM one_time_tokens WHERE user_id = ? AND purpose = 'change_email' AND used_at IS NULL")
      .bind(loser.id)
      .first<{ n: number }>();
    expect(unspent?.n).toBe(1);
  });
});
