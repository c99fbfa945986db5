/**
 * Email codes (API.md §11) through the real Worker: D1, the user objects and the dev outbox.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, env, expectError, guest, json, login, mailbox, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { activityOf, countActivity } from "../helpers/activity";

/** Asks for a code and reads it back from the outbox (the `count`-th mail to the address). */
async function requestCode(email: string, count = 1, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await call("/v1/auth/email-code", { body: { email, ...extra } });
  expect(response.status).toBe(200);
  const messages = await mailbox(email, count);
  expect(messages.length).toBeGreaterThanOrEqual(count);
  const code = /sign-in code is (\d{6})/.exec(messages[0]!.text)?.[1];
  if (!code) throw new Error("no code in the mail");
  return code;
}

const verify = (email: string, code: string, token?: string) =>
  call("/v1/auth/email-code/verify", { body: { email, code }, ...(token ? { token } : {}) });

const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, "0");

async function userRow(email: string): Promise<Json> {
  return env.DB.prepare("SELECT * FROM users WHERE email_normalized = ?").bind(email.toLowerCase()).first();
}

describe("POST /v1/auth/email-code", () => {
  it("answers the same for a known and an unknown address, and stores only a keyed hash", async () => {
    const account = await verifiedAccount("code-known");
    const unknown = uniqueEmail("code-unknown");
    const a = await call("/v1/auth/email-code", { body: { email: account.email } });
    const b = await call("/v1/auth/email-code", { body: { email: unknown } });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await json(a)).toEqual(await json(b));
    const code = /sign-in code is (\d{6})/.exec((await mailbox(account.email, 2)).find((m) => m.subject.includes("sign-in code"))!.text)![1]!;
    const row = await env.DB.prepare("SELECT * FROM email_codes WHERE email_normalized = ?").bind(account.email.toLowerCase()).first<Json>();
    expect(row.code_hash).not.toContain(code);
    expect(row.code_hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Not a bare hash of the code or of address and code: the key lives outside the database.
    const digest = async (s: string) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect([await digest(code), await digest(`${account.email.toLowerCase()}\u0000${code}`)]).not.toContain(row.code_hash);
    expect(row.expires_at - row.created_at).toBe(10 * 60_000);
    const mail = (await mailbox(account.email, 2))[0]!;
    expect(mail.subject).not.toContain(code);
    expect(mail.text).not.toContain("/sign-in?");
  });

  it("adds a /sign-in link only for an allowed baseUrl or a known clientAlias", async () => {
    const email = uniqueEmail("code-link");
    const code = await requestCode(email, 1, { baseUrl: "https://app.example.com/auth" });
    const link = (await mailbox(email))[0]!.text.match(/https:\/\/\S+/)![0];
    const url = new URL(link);
    expect(url.origin + url.pathname).toBe("https://app.example.com/auth/sign-in");
    expect(url.searchParams.get("email")).toBe(email);
    expect(url.searchParams.get("code")).toBe(code);
    await expectError(await call("/v1/auth/email-code", { body: { email, baseUrl: "https://evil.example.net" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/email-code", { body: { email, clientAlias: "nope" } }), 400, "invalid_request");
    const aliased = uniqueEmail("code-alias");
    await requestCode(aliased, 1, { clientAlias: "VERIFIER" });
    expect((await mailbox(aliased))[0]!.text).toContain("https://verifier.example.com/account/sign-in?");
  });

  it("refuses bad input with §5 errors", async () => {
    await expectError(await call("/v1/auth/email-code", { body: { email: "not-an-email" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/email-code", { body: { email: uniqueEmail(), logoUrl: "http://x.test/a.png" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/email-code/verify", { body: { email: uniqueEmail(), code: "12345" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/email-code/verify", { body: { email: uniqueEmail(), code: "abcdef" } }), 400, "invalid_request");
  });

  it("limits sending per IP (code bucket, 10/hour) and per address (3/hour, shared with recovery)", async () => {
    const ip = "10.99.1.7";
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await call("/v1/auth/email-code", { body: { email: uniqueEmail("ipl") }, ip })).status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses[10]).toBe(429);
    const email = uniqueEmail("per-email");
    const perEmail: number[] = [];
    for (let i = 0; i < 4; i++) perEmail.push((await call("/v1/auth/email-code", { body: { email } })).status);
    expect(perEmail).toEqual([200, 200, 200, 429]);
    const forgot = await call("/v1/auth/forgot-password", { body: { email } });
    expect(forgot.status).toBe(429);
  });
});

describe("POST /v1/auth/email-code/verify", () => {
  it("signs into the existing account, marks the address verified, records sign_in with method code", async () => {
    const email = uniqueEmail("code-unverified");
    const registered = await call("/v1/auth/register", { body: { email, password: PASSWORD } });
    const { user } = await json(registered);
    const code = await requestCode(email, 2);
    const response = await verify(email, code);
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair).toMatchObject({ tokenType: "Bearer", user: { id: user.id, email, emailVerified: true, isGuest: false } });
    expect(claims(pair.accessToken)).toMatchObject({ sub: user.id, role: "user" });
    const events = (await activityOf(user.id)).map(({ type, method }) => ({ type, method }));
    expect(events).toEqual(expect.arrayContaining([{ type: "sign_in", method: "code" }, { type: "email_verified", method: null }]));
    // Single use.
    await expectError(await verify(email, code), 401, "invalid_credentials");
  });

  it("drops a password set on an address nobody had proven (pre-hijacking) and keeps a verified account's", async () => {
    const email = uniqueEmail("prehijack");
    await call("/v1/auth/register", { body: { email, password: PASSWORD } });
    expect((await verify(email, await requestCode(email, 2))).status).toBe(200);
    expect((await userRow(email)).password_hash).toBeNull();
    const account = await verifiedAccount("keeps-password");
    expect((await verify(account.email, await requestCode(account.email, 2))).status).toBe(200);
    await login(account);
  });

  it("creates a password-less, verified account for an unknown address", async () => {
    const email = uniqueEmail("code-signup");
    const response = await verify(email, await requestCode(email));
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ email, emailVerified: true, isGuest: false });
    expect(pair.refreshExpiresIn).toBeGreaterThan(0);
    const row = await userRow(email);
    expect(row).toMatchObject({ id: pair.user.id, password_hash: null, is_guest: 0 });
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
  });

  it("with EMAIL_CODE_SIGN_UP=false an unknown address gets no mail and no account (401)", async () => {
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: worker } = await import("../../src");
    const environment = { ...env, EMAIL_CODE_SIGN_UP: "false" } as unknown as Env;
    const send = async (path: string, body: unknown) => {
      const ctx = createExecutionContext();
      const ip = `10.251.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const response = await worker.fetch(
        new Request(`http://auth.test${path}`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": ip }, body: JSON.stringify(body) }),
        environment,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return response;
    };
    const email = uniqueEmail("nosignup");
    expect((await send("/v1/auth/email-code", { email })).status).toBe(200);
    expect(await mailbox(email, 1, 300)).toEqual([]);
    const row = await env.DB.prepare("SELECT code_hash FROM email_codes WHERE email_normalized = ?").bind(email).first();
    expect(row).not.toBeNull();
    // Even the right code (taken from the default configuration) creates nothing.
    const code = await requestCode(email);
    await expectError(await send("/v1/auth/email-code/verify", { email, code }), 401, "invalid_credentials");
    expect(await userRow(email)).toBeNull();
    // An existing account still signs in.
    const account = await verifiedAccount("signup-off");
    expect((await send("/v1/auth/email-code", { email: account.email })).status).toBe(200);
    const mails = await mailbox(account.email, 2);
    const existing = /sign-in code is (\d{6})/.exec(mails[0]!.text)![1]!;
    expect((await send("/v1/auth/email-code/verify", { email: account.email, code: existing })).status).toBe(200);
  });

  it("upgrades the calling guest in place: same id, sessions kept, address verified", async () => {
    const g = await guest();
    const email = uniqueEmail("code-guest");
    const code = await requestCode(email);
    const response = await verify(email, code, g.accessToken);
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: g.user.id, email, isGuest: false, emailVerified: true });
    expect(pair.sessionId).toBe(g.sessionId);
    expect(claims(pair.accessToken).role).toBe("user");
    const sessions = await json(await call("/v1/auth/sessions", { token: pair.accessToken }));
    expect(sessions.sessions.map((s: Json) => s.id)).toContain(g.sessionId);
  });

  it("a guest with an address that has an account gets 409, nothing changes, and the code still works without the token", async () => {
    const account = await verifiedAccount("code-taken");
    const g = await guest();
    const code = await requestCode(account.email, 2);
    await expectError(await verify(account.email, code, g.accessToken), 409, "conflict");
    const me = await json(await call("/v1/auth/me", { token: g.accessToken }));
    expect(me.user).toMatchObject({ id: g.user.id, isGuest: true, email: null });
    const response = await verify(account.email, code);
    expect(response.status).toBe(200);
    expect((await json(response)).user.id).toBe(account.userId);
  });

  it("a full account's token is ignored; a bad token is 401 invalid_token", async () => {
    const other = await verifiedAccount("code-other");
    const otherPair = await login(other);
    const email = uniqueEmail("code-ignore");
    const code = await requestCode(email);
    await expectError(await verify(email, code, "not-a-token"), 401, "invalid_token");
    const response = await verify(email, code, otherPair.accessToken);
    expect(response.status).toBe(200);
    expect((await json(response)).user.email).toBe(email);
  });

  it("a disabled account answers 403 account_disabled", async () => {
    const account = await verifiedAccount("code-disabled");
    await env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), account.userId).run();
    const code = await requestCode(account.email, 2);
    await expectError(await verify(account.email, code), 403, "account_disabled");
  });

  it("a wrong code is 401, recorded as sign_in_failed, and five wrong tries void the code", async () => {
    const account = await verifiedAccount("code-wrong");
    const code = await requestCode(account.email, 2);
    for (let i = 0; i < 5; i++) {
      const body = await expectError(await verify(account.email, wrong(code)), 401, "invalid_credentials");
      expect(JSON.stringify(body)).not.toContain(code);
    }
    await expectError(await verify(account.email, code), 401, "invalid_credentials");
    expect(await countActivity(account.userId, "sign_in_failed", "code")).toBeGreaterThanOrEqual(5);
    // A new code replaces the void one.
    expect((await verify(account.email, await requestCode(account.email, 3))).status).toBe(200);
  });

  it("four wrong tries leave the code usable; a new code voids the previous one", async () => {
    const email = uniqueEmail("code-four");
    const first = await requestCode(email);
    for (let i = 0; i < 4; i++) await expectError(await verify(email, wrong(first)), 401, "invalid_credentials");
    const second = await requestCode(email, 2);
    if (second !== first) await expectError(await verify(email, first), 401, "invalid_credentials");
    expect((await verify(email, second)).status).toBe(200);
  });

  it("an expired code is 401", async () => {
    const email = uniqueEmail("code-expired");
    const code = await requestCode(email);
    await env.DB.prepare("UPDATE email_codes SET expires_at = ? WHERE email_normalized = ?").bind(Date.now() - 1, email).run();
    await expectError(await verify(email, code), 401, "invalid_credentials");
    expect(await userRow(email)).toBeNull();
  });

  it("counts toward the account's failed logins: 429 past the limit, for passwords too", async () => {
    const account = await verifiedAccount("code-lock");
    for (let i = 0; i < 10; i++) {
      const code = String(i).padStart(6, "0");
      const response = await verify(account.email, code);
      expect(response.status).toBe(401);
    }
    await expectError(await verify(account.email, "123456"), 429, "rate_limited");
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }), 429, "rate_limited");
  });

  it("20 concurrent verifications of one code give exactly one TokenPair", async () => {
    const email = uniqueEmail("code-race");
    const code = await requestCode(email);
    const responses = await Promise.all(Array.from({ length: 20 }, () => verify(email, code)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.every((s) => s === 200 || s === 401 || s === 429)).toBe(true);
    const users = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email_normalized = ?").bind(email).first<Json>();
    expect(users.n).toBe(1);
  });
});
