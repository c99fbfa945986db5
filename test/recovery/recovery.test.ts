/**
 * Password recovery over HTTP (API.md §3, §7; src/recovery/index.ts): forgot-password mails a single-use
 * link read back from the dev outbox, reset-password redeems it, ends every session and mails a
 * notice; tokens are 256-bit, stored hashed, expire, and a newer one voids the older.
 */
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/crypto";
import {
  BASE, PASSWORD, call, captureLogs, env, expectError, json, login, mailbox, uniqueEmail, verifiedAccount,
} from "../helpers";
import type { Account } from "../helpers";

const NEW_PASSWORD = "quiet-meadow-copper-77";

async function forgot(email: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return call("/v1/auth/forgot-password", { body: { email, ...extra } });
}

/** Asks for a reset and returns the mailed link, waiting for the `count`-th mail to `email`. */
async function resetLink(email: string, count: number): Promise<URL> {
  expect((await forgot(email)).status).toBe(200);
  const messages = await mailbox(email, count);
  const reset = messages.find((m) => m.text.includes("/reset-password?"));
  const link = reset?.text.match(/https?:\/\/\S+\/reset-password\?\S+/)?.[0];
  if (!link) throw new Error(`no reset link mailed to ${email}`);
  return new URL(link);
}

async function reset(email: string, token: string, newPassword = NEW_PASSWORD): Promise<Response> {
  return call("/v1/auth/reset-password", { body: { email, token, newPassword } });
}

async function loginStatus(account: Pick<Account, "email">, password: string): Promise<number> {
  return (await call("/v1/auth/login", { body: { email: account.email, password } })).status;
}

describe("forgot-password", () => {
  it("mails a link to the service's own page holding a 256-bit token that is stored only as a hash", async () => {
    const account = await verifiedAccount("forgot");
    const link = await resetLink(account.email, 2);
    expect(`${link.origin}${link.pathname}`).toBe(`${BASE}/reset-password`);
    expect(link.searchParams.get("email")).toBe(account.email);
    const token = link.searchParams.get("token")!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    const stored = await env.DB.prepare("SELECT token_hash, expires_at - created_at AS ttl FROM one_time_tokens WHERE user_id = ? AND purpose = 'reset_password'")
      .bind(account.userId)
      .all<{ token_hash: string; ttl: number }>();
    expect(stored.results).toEqual([{ token_hash: await sha256(token), ttl: 30 * 60_000 }]);
    const plain = await env.DB.prepare("SELECT count(*) AS n FROM one_time_tokens WHERE token_hash = ?").bind(token).first<{ n: number }>();
    expect(plain?.n).toBe(0);
  });

  it("answers an unknown address exactly as a known one, and mails nothing to it", async () => {
    const account = await verifiedAccount("known");
    const unknown = uniqueEmail("nobody");
    const [known, missing] = [await forgot(account.email), await forgot(unknown)];
    expect(missing.status).toBe(known.status);
    expect(await missing.text()).toBe(await known.text());
    const headerNames = (r: Response) => [...r.headers.keys()].sort();
    expect(headerNames(missing)).toEqual(headerNames(known));
    expect(await mailbox(account.email, 2)).toHaveLength(2);
    expect(await mailbox(unknown, 1, 1000)).toHaveLength(0);
  });

  it("limits mails per address to 3 an hour, known or not, whatever the client address", async () => {
    const account = await verifiedAccount("flood");
    for (const email of [account.email, uniqueEmail("flood-unknown")]) {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await forgot(email)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await forgot(email);
      await expectError(refused, 429, "rate_limited");
      expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    }
  });

  it("rejects malformed input with a §5 error before any lookup", async () => {
    await expectError(await forgot("not-an-email"), 400, "invalid_request");
    await expectError(await call("/v1/auth/forgot-password", { rawBody: "{", headers: { "content-type": "application/json" } }), 400, "invalid_request");
    await expectError(await forgot(uniqueEmail(), { baseUrl: "https://evil.example.net" }), 400, "invalid_request");
  });

  it("accepts snake_case field names", async () => {
    const account = await verifiedAccount("snake");
    const response = await call("/v1/auth/forgot-password", { body: { email: account.email, platform_name: "Snake Co" } });
    expect(response.status).toBe(200);
    const [newest] = await mailbox(account.email, 2);
    expect(newest!.subject).toBe("Reset your Snake Co password");
  });
});

describe("reset-password", () => {
  it("sets the new password, ends every session and mails a notice", async () => {
    const account = await verifiedAccount("reset");
    const pair = await login(account);
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;

    const response = await reset(account.email, token);
    expect(response.status).toBe(200);
    expect((await json(response)).user).toMatchObject({ id: account.userId, email: account.email, emailVerified: true });

    expect(await loginStatus(account, PASSWORD)).toBe(401);
    expect(await loginStatus(account, NEW_PASSWORD)).toBe(200);
    await expectError(await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }), 401, "invalid_token");
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");

    const [notice] = await mailbox(account.email, 3);
    expect(notice!.subject).toBe("Your Edge Auth password was changed");
    expect(notice!.text).toContain("every session of your account was signed out");
    expect(notice!.text).not.toContain(token);
  });

  it("refuses a token used once already", async () => {
    const account = await verifiedAccount("reuse");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    expect((await reset(account.email, token)).status).toBe(200);
    const again = await expectError(await reset(account.email, token, "another-fresh-password-9"), 400, "invalid_request");
    expect(again.details).toEqual([{ field: "token", message: "is invalid or has expired" }]);
    expect(await loginStatus(account, NEW_PASSWORD)).toBe(200);
  });

  it("spends the token only together with the password change: a failed write leaves it usable", async () => {
    const account = await verifiedAccount("atomic");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    const trigger = `fail_reset_${account.userId.replace(/-/g, "")}`;
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} BEFORE UPDATE OF password_hash ON users WHEN NEW.id = '${account.userId}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    try {
      const failed = await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword: NEW_PASSWORD } });
      const body = await expectError(failed, 500, "internal");
      expect(JSON.stringify(body)).not.toContain("injected");
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    expect(await loginStatus(account, PASSWORD)).toBe(200);
    expect((await reset(account.email, token)).status).toBe(200);
    expect(await loginStatus(account, NEW_PASSWORD)).toBe(200);
  });

  it("refuses an expired token", async () => {
    const account = await verifiedAccount("expired");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    await env.DB.prepare("UPDATE one_time_tokens SET expires_at = ? WHERE token_hash = ?").bind(Date.now() - 1000, await sha256(token)).run();
    await expectError(await reset(account.email, token), 400, "invalid_request");
    expect(await loginStatus(account, PASSWORD)).toBe(200);
  });

  it("voids an older token when a newer one is mailed", async () => {
    const account = await verifiedAccount("newer");
    const older = (await resetLink(account.email, 2)).searchParams.get("token")!;
    const newer = (await resetLink(account.email, 3)).searchParams.get("token")!;
    expect(newer).not.toBe(older);
    await expectError(await reset(account.email, older), 400, "invalid_request");
    expect((await reset(account.email, newer)).status).toBe(200);
  });

  it("lets exactly one of two simultaneous redemptions win", async () => {
    const account = await verifiedAccount("race");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    const results = await Promise.all([reset(account.email, token), reset(account.email, token, "second-racer-password-5")]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
  });

  it("keeps the token when the new password is refused, and names the reason", async () => {
    const account = await verifiedAccount("weak");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    for (const weak of ["short", "password123", account.username]) {
      const body = await expectError(await reset(account.email, token, weak), 400, "invalid_request");
      expect(body.details[0].field).toBe("newPassword");
    }
    expect((await reset(account.email, token)).status).toBe(200);
  });

  it("refuses a token presented with another address, without spending it", async () => {
    const account = await verifiedAccount("owner");
    const other = await verifiedAccount("other");
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    await expectError(await reset(other.email, token), 400, "invalid_request");
    expect(await loginStatus(other, PASSWORD)).toBe(200);
    expect((await reset(account.email.toUpperCase(), token)).status).toBe(200);
  });

  it("refuses made-up tokens of any shape with the same error", async () => {
    const email = uniqueEmail("made-up");
    for (const token of ["x", "A".repeat(43), "A".repeat(512)]) {
      const body = await expectError(await reset(email, token), 400, "invalid_request");
      expect(body.details).toEqual([{ field: "token", message: "is invalid or has expired" }]);
    }
  });

  it("verifies the address of an account that never confirmed it", async () => {
    const email = uniqueEmail("unverified");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    expect(await loginStatus({ email }, PASSWORD)).toBe(401);
    const token = (await resetLink(email, 2)).searchParams.get("token")!;
    expect((await reset(email, token)).status).toBe(200);
    expect(await loginStatus({ email }, NEW_PASSWORD)).toBe(200);
  });

  it("lifts the per-account login throttle, which someone else's guesses may have set", async () => {
    const account = await verifiedAccount("throttled");
    const statuses = [];
    for (let i = 0; i < 11; i++) statuses.push(await loginStatus(account, `wrong-guess-${i}-xyz`));
    expect(statuses.at(-1)).toBe(429);
    const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
    expect((await reset(account.email, token)).status).toBe(200);
    expect(await loginStatus(account, NEW_PASSWORD)).toBe(200);
  });

  it("never writes the token, the password or the full address to the logs", async () => {
    const logs = captureLogs();
    try {
      const account = await verifiedAccount("logs");
      const token = (await resetLink(account.email, 2)).searchParams.get("token")!;
      expect((await reset(account.email, token)).status).toBe(200);
      await mailbox(account.email, 3);
      expect(logs.events("mail.sent").length).toBeGreaterThanOrEqual(3);
      for (const secret of [token, NEW_PASSWORD, account.email]) expect(logs.text()).not.toContain(secret);
    } finally {
      logs.restore();
    }
  });
});
