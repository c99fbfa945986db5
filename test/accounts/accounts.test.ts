/**
 * Accounts over HTTP: guests, registration, email verification, password login.
 */
import { describe, expect, it } from "vitest";
import { login as loginService } from "../../src/accounts";
import { loadConfig } from "../../src/config";
import type { Deps } from "../../src/http/deps";
import {
  BASE, PASSWORD, call, env, expectError, freshIp, guest, json, login, mailbox, mailedToken, uniqueEmail, uniqueUsername,
  verifiedAccount,
  storedPasswordHash,
} from "../helpers";

const register = (body: Record<string, unknown>) => call("/v1/auth/register", { body });

describe("guest", () => {
  it("creates a guest user with a session and a token pair", async () => {
    const response = await call("/v1/auth/guest", { method: "POST" });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const pair = await json(response);
    expect(Object.keys(pair).sort()).toEqual(
      ["aal", "accessToken", "expiresIn", "refreshExpiresIn", "refreshToken", "sessionId", "tokenType", "user"].sort(),
    );
    expect(pair.user).toMatchObject({ isGuest: true, email: null, username: null, emailVerified: false });
    expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{86}$/);
    const row = await env.DB.prepare("SELECT is_guest FROM users WHERE id = ?").bind(pair.user.id).first();
    expect(row).toEqual({ is_guest: 1 });
  });

  it("stores only a hash of the refresh token", async () => {
    const pair = await guest();
    const dump = JSON.stringify(await env.DB.prepare("SELECT * FROM sessions WHERE user_id = ?").bind(pair.user.id).all());
    expect(dump).not.toContain(pair.refreshToken);
    expect(dump).not.toContain(pair.refreshToken.slice(43));
  });
});

describe("register", () => {
  it("creates an unverified account, mails a verification link and answers 201", async () => {
    const email = uniqueEmail("Reg").replace("reg", "ReG");
    const username = uniqueUsername("reg");
    const response = await register({ email: `  ${email} `, password: PASSWORD, username });
    expect(response.status).toBe(201);
    const body = await json(response);
    expect(body.verificationRequired).toBe(true);
    expect(body.accessToken).toBeUndefined();
    expect(body.user).toMatchObject({ email, username, isGuest: false, emailVerified: false });
    const [mail] = await mailbox(email);
    expect(mail?.subject).toMatch(/confirm/i);
    expect(mail?.text).toContain("http://auth.test/verify-email?token=");
    // Stored as a BLOB of 1 + 4 + 1 + 16 + 32 bytes (issue 27 slice 11), read back to the hash string.
    const stored = await storedPasswordHash(body.user.id);
    expect(stored).toMatchObject({ form: "blob", length: 54 });
    expect(stored.hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  });

  it("accepts snake_case field names", async () => {
    const email = uniqueEmail();
    const response = await register({ email, password: PASSWORD, profile_picture: "https://example.com/p.png" });
    expect(response.status).toBe(201);
    expect((await json(response)).user.profilePicture).toBe("https://example.com/p.png");
  });

  it("answers 409 for a taken email or username, compared case-insensitively", async () => {
    const account = await verifiedAccount("taken");
    const byEmail = await expectError(
      await register({ email: account.email.toUpperCase(), password: PASSWORD }),
      409,
      "conflict",
    );
    expect(byEmail.details).toEqual([{ field: "email", message: "is already taken" }]);
    const byName = await expectError(
      await register({ email: uniqueEmail(), password: PASSWORD, username: account.username.toUpperCase() }),
      409,
      "conflict",
    );
    expect(byName.details).toEqual([{ field: "username", message: "is already taken" }]);
  });

  it("rejects bad input with the fields named", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: "not-an-email", password: PASSWORD }, "email"],
      [{ email: uniqueEmail(), password: "short" }, "password"],
      [{ email: uniqueEmail(), password: "password123" }, "password"],
      [{ email: uniqueEmail(), password: "x".repeat(129) }, "password"],
      [{ email: uniqueEmail(), password: PASSWORD, username: "ab" }, "username"],
      [{ email: uniqueEmail(), password: PASSWORD, username: "me@example.com" }, "username"],
      [{ email: uniqueEmail(), password: PASSWORD, profilePicture: "http://example.com/p.png" }, "profilePicture"],
      [{ password: PASSWORD }, "email"],
    ];
    for (const [body, field] of cases) {
      const error = await expectError(await register(body), 400, "invalid_request");
      expect(error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  it("refuses a password equal to the email or username", async () => {
    const email = uniqueEmail();
    const error = await expectError(await register({ email, password: email }), 400, "invalid_request");
    expect(error.details[0].message).toMatch(/email or username/);
    const username = uniqueUsername("samepw");
    await expectError(await register({ email: uniqueEmail(), password: username, username }), 400, "invalid_request");
  });

  it("ignores fields that would set the id, role or verification", async () => {
    const id = crypto.randomUUID();
    const response = await register({ email: uniqueEmail(), password: PASSWORD, id, role: "admin", isGuest: true, emailVerified: true });
    const { user } = await json(response);
    expect(user.id).not.toBe(id);
    expect(user).toMatchObject({ isGuest: false, emailVerified: false });
  });
});

describe("email verification", () => {
  it("verifies once with the mailed token", async () => {
    const email = uniqueEmail("verify");
    await register({ email, password: PASSWORD });
    const token = await mailedToken(email, "/verify-email");
    const first = await call("/v1/auth/verify-email", { body: { token } });
    expect(first.status).toBe(200);
    expect((await json(first)).user).toMatchObject({ email, emailVerified: true });
    await expectError(await call("/v1/auth/verify-email", { body: { token } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/verify-email", { body: { token: "x".repeat(43) } }), 400, "invalid_request");
  });

  it("resend answers the same for known and unknown addresses and mails only the known one", async () => {
    const email = uniqueEmail("resend");
    await register({ email, password: PASSWORD });
    await mailbox(email, 1);
    const known = await call("/v1/auth/resend-verification", { body: { email } });
    const unknownEmail = uniqueEmail("nobody");
    const unknown = await call("/v1/auth/resend-verification", { body: { email: unknownEmail } });
    expect(known.status).toBe(200);
    expect(await known.text()).toBe(await unknown.text());
    expect(await mailbox(email, 2)).toHaveLength(2);
    expect(await mailbox(unknownEmail, 1, 300)).toHaveLength(0);
    // The newer link voids the older one.
    const messages = await mailbox(email, 2);
    const tokens = messages.map((m) => new URL(m.text.match(/https?:\/\/\S+/)![0]).searchParams.get("token"));
    await expectError(await call("/v1/auth/verify-email", { body: { token: tokens[1] } }), 400, "invalid_request");
    expect((await call("/v1/auth/verify-email", { body: { token: tokens[0] } })).status).toBe(200);
  });
});

describe("login", () => {
  it("signs in by email or by username, case-insensitively", async () => {
    const account = await verifiedAccount("login");
    const byEmail = await login({ email: account.email.toUpperCase(), password: account.password });
    expect(byEmail.user.id).toBe(account.userId);
    expect(byEmail.refreshExpiresIn).toBe(30 * 86_400);
    const byName = await call("/v1/auth/login", { body: { username: account.username.toUpperCase(), password: account.password } });
    expect(byName.status).toBe(200);
    expect((await json(byName)).user.id).toBe(account.userId);
  });

  it("answers wrong passwords and unknown users alike", async () => {
    const account = await verifiedAccount("wrong");
    const wrong = await call("/v1/auth/login", { body: { email: account.email, password: "not-the-password-1" } });
    const unknown = await call("/v1/auth/login", { body: { email: uniqueEmail("ghost"), password: "not-the-password-1" } });
    const a = await expectError(wrong, 401, "invalid_credentials");
    const b = await expectError(unknown, 401, "invalid_credentials");
    expect(a).toEqual(b);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("requires a verified email, and checks the password first", async () => {
    const email = uniqueEmail("unverified");
    await register({ email, password: PASSWORD });
    await expectError(await call("/v1/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");
    await expectError(await call("/v1/auth/login", { body: { email, password: "wrong-password-9" } }), 401, "invalid_credentials");
  });

  it("wants an email or a username; given both, the email decides", async () => {
    await expectError(await call("/v1/auth/login", { body: { password: PASSWORD } }), 400, "invalid_request");
    const account = await verifiedAccount("both");
    const both = await call("/v1/auth/login", { body: { email: account.email, username: "someone-else", password: PASSWORD } });
    expect(both.status).toBe(200);
    expect((await json(both)).user.id).toBe(account.userId);
    await expectError(
      await call("/v1/auth/login", { body: { email: uniqueEmail(), username: account.username, password: PASSWORD } }),
      401,
      "invalid_credentials",
    );
  });

  it("upgrades a hash made with other parameters at the next login", async () => {
    const account = await verifiedAccount("rehash");
    // A hash from an earlier, weaker setting (same format, fewer iterations).
    const { hashPassword } = await import("../../src/accounts/passwords");
    const old = await hashPassword(account.password, { iterations: 20_000 });
    await env.DB.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(old, account.userId).run();
    await login(account);
    const row = await storedPasswordHash(account.userId);
    expect(row.hash).toMatch(/^pbkdf2-sha256\$100000\$/);
    await login(account);
  });
});

describe("register with verification off", () => {
  it("answers 201 with the user and a TokenPair, and the password logs in unverified", async () => {
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: worker } = await import("../../src");
    const environment = { ...env, REQUIRE_EMAIL_VERIFICATION: "false" } as unknown as Env;
    const send = async (path: string, body: unknown) => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(
        new Request(`http://auth.test${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", "cf-connecting-ip": `10.250.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` },
          body: JSON.stringify(body),
        }),
        environment,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return response;
    };
    const email = uniqueEmail("noverify");
    const response = await send("/v1/auth/register", { email, password: PASSWORD });
    expect(response.status).toBe(201);
    const body = await json(response);
    expect(body).toMatchObject({ verificationRequired: false, tokenType: "Bearer", expiresIn: 3600, user: { email, emailVerified: false } });
    expect(body.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call("/v1/auth/me", { token: body.accessToken })).status).toBe(200);
    expect((await send("/v1/auth/login", { email, password: PASSWORD })).status).toBe(200);
    // The default config still demands verification for the same account.
    await expectError(await call("/v1/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");
  });
});

describe("password sign-in guard vs. another login's rehash", () => {
  // API.md §2: hashes are "upgraded at the next login". Two logins with the right password, one of
  // which upgrades the outdated hash while the other is between its check and its sign-in, both
  // succeed: the sign-in guard names the checked hash, so the second retries with the new one.
  it("a correct login racing another login's rehash still gets its session", async () => {
    const account = await verifiedAccount("rehashrace");
    const config = loadConfig(env);
    const { hashPassword } = await import("../../src/accounts/passwords");
    const outdated = await hashPassword(PASSWORD, { iterations: 1_000, pepper: config.pepper });
    await env.DB.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(outdated, account.userId).run();

    let fired = false;
    const db = new Proxy(env.DB, {
      get(target, key) {
        if (key === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const result = await target.batch(statements);
            if (!fired) {
              fired = true;
              // Another device signs in meanwhile and upgrades the hash.
              const other = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD }, ip: freshIp() });
              expect(other.status).toBe(200);
            }
            return result;
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const deps: Deps = {
      env: new Proxy(env, { get: (target, key) => (key === "DB" ? db : Reflect.get(target, key)) }) as Deps["env"],
      config,
      client: { ipAddress: null, userAgent: null },
      requestId: "review",
      origin: BASE,
      waitUntil: () => undefined,
    };
    const rehashed = (await storedPasswordHash(account.userId)).hash;
    expect(rehashed).toBe(outdated);

    const pair = await loginService(deps, { email: account.email, password: PASSWORD });
    expect(fired).toBe(true);
    expect(pair.user.id).toBe(account.userId);
  });
});
