/**
 * Account deletion (API.md §9): self-service with re-authentication, by mailed link, and what is
 * left afterwards: no D1 row, an empty user object, no uploaded picture, no working token, and the
 * address and username free again. The deletion itself is one D1 batch (counted here).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { confirmDeletion, deleteAccount } from "../../src/deletion";
import type { Deps } from "../../src/http/deps";
import {
  BASE, PASSWORD, call, claims, countingDb, expectError, guest, json, login, mailbox, mailedToken, objectStorage, refreshWith,
  rowsOfUser, serviceDeps, signToken, serviceSigningKey, uniqueEmail, verifiedAccount,
} from "../helpers";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);

async function uploadPicture(accessToken: string): Promise<string> {
  const form = new FormData();
  form.append("profilePicture", new File([PNG], "me.png", { type: "image/png" }));
  const response = await call("/v1/auth/me", { method: "PATCH", token: accessToken, rawBody: form });
  expect(response.status).toBe(200);
  return (await json(response)).user.profilePicture as string;
}

/** Rows a user could have in every table, inserted directly: passkeys, identities, events, challenges, a code, tokens. */
async function seedRows(userId: string, emailNormalized: string, counts: { passkeys: number; identities: number; events: number }) {
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < counts.passkeys; i++) {
    statements.push(
      env.DB.prepare(
        "INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, transports, user_handle, backed_up, name, created_at, last_used_at) VALUES (?, ?, ?, 'pk', 0, NULL, 'handle', 0, ?, ?, NULL)",
      ).bind(crypto.randomUUID(), userId, crypto.randomUUID(), `key ${i}`, now),
    );
  }
  for (let i = 0; i < counts.identities; i++) {
    statements.push(
      env.DB.prepare("INSERT INTO identities (id, user_id, provider, subject, email, created_at) VALUES (?, ?, ?, ?, NULL, ?)").bind(
        crypto.randomUUID(), userId, `provider-${i}`, crypto.randomUUID(), now,
      ),
    );
  }
  for (let i = 0; i < counts.events; i++) {
    statements.push(
      env.DB.prepare("INSERT INTO activity (id, user_id, type, method, created_at, ip_address, user_agent, session_id) VALUES (?, ?, 'sign_in', 'password', ?, NULL, NULL, NULL)").bind(
        crypto.randomUUID(), userId, now - i,
      ),
    );
  }
  statements.push(
    env.DB.prepare("INSERT INTO webauthn_challenges (id, kind, user_id, challenge, created_at, expires_at) VALUES (?, 'registration', ?, 'c', ?, ?)").bind(
      crypto.randomUUID(), userId, now, now + 300_000,
    ),
    env.DB.prepare("INSERT INTO email_codes (email_normalized, code_hash, attempts, created_at, expires_at) VALUES (?, 'h', 0, ?, ?)").bind(emailNormalized, now, now + 600_000),
    env.DB.prepare("INSERT INTO counters (key, window_start, count) VALUES (?, ?, 3)").bind(`login:${userId}`, now),
  );
  await env.DB.batch(statements);
}

describe("DELETE /v1/auth/me", () => {
  it("deletes everything kept about the account; tokens stop working at once; the address and username are free", async () => {
    const account = await verifiedAccount("delete-self");
    const pairs = [];
    for (let i = 0; i < 5; i++) pairs.push(await login(account));
    // A rotation makes the user's object adopt that session: it then holds token state to erase.
    pairs[4] = await json(await refreshWith(pairs[4].refreshToken));
    const picture = await uploadPicture(pairs[0].accessToken);
    const key = picture.split("/").pop()!;
    expect(await env.AVATARS.get(key)).not.toBeNull();
    await seedRows(account.userId, account.email.toLowerCase(), { passkeys: 10, identities: 3, events: 100 });
    // The token is remembered by the per-isolate verified-token cache before the deletion.
    expect((await call("/v1/auth/me", { token: pairs[1].accessToken })).status).toBe(200);
    expect((await objectStorage(account.userId)).rows).toBeGreaterThan(0);

    await expectError(await call("/v1/auth/me", { method: "DELETE", token: pairs[0].accessToken }), 400, "invalid_request");
    await expectError(await call("/v1/auth/me", { method: "DELETE", token: pairs[0].accessToken, body: { password: "wrong-password-123" } }), 401, "invalid_credentials");
    const deleted = await call("/v1/auth/me", { method: "DELETE", token: pairs[0].accessToken, body: { password: PASSWORD } });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("RateLimit-Limit")).toBe("20");

    expect(await rowsOfUser(account.userId, account.email.toLowerCase())).toEqual({
      users: 0, sessions: 0, identities: 0, passkeys: 0, webauthn_challenges: 0, one_time_tokens: 0, activity: 0, counters: 0, email_codes: 0,
    });
    expect(await objectStorage(account.userId)).toEqual({ tables: [], rows: 0 });
    expect(await env.AVATARS.get(key)).toBeNull();
    for (const pair of pairs) {
      await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
      await expectError(await call("/v1/auth/sessions", { token: pair.accessToken }), 401, "invalid_token");
      await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
    }
    const notice = await mailbox(account.email, 2);
    expect(notice[0]!.subject).toContain("account was deleted");

    const again = await call("/v1/auth/register", { body: { email: account.email, username: account.username, password: PASSWORD } });
    expect(again.status).toBe(201);
    expect((await json(again)).user.id).not.toBe(account.userId);
  });

  it("needs no password from a guest", async () => {
    const pair = await guest();
    expect((await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken })).status).toBe(204);
    expect((await rowsOfUser(pair.user.id)).users).toBe(0);
    await expectError(await refreshWith(pair.refreshToken), 401, "invalid_token");
  });

  it("asks an account without a password for a sign-in at most 10 minutes old", async () => {
    const pair = await guest();
    // A full account with no password (as an email code or an ID token makes one), set up directly.
    const email = uniqueEmail("nopassword");
    await env.DB.prepare("UPDATE users SET is_guest = 0, email = ?, email_normalized = ?, email_verified_at = ? WHERE id = ?")
      .bind(email, email, Date.now(), pair.user.id)
      .run();
    const { kid } = await serviceSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const stale = await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims(pair.accessToken), role: "user", jti: crypto.randomUUID(), iat: now - 11 * 60, exp: now + 600 });
    await expectError(await call("/v1/auth/me", { method: "DELETE", token: stale }), 403, "reauthentication_required");
    expect((await rowsOfUser(pair.user.id)).users).toBe(1);
    expect((await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken })).status).toBe(204);
    expect((await rowsOfUser(pair.user.id)).users).toBe(0);
  });

  it("is one D1 round trip for 5 sessions, 10 passkeys, 3 identities and 100 events, then the object and R2", async () => {
    const account = await verifiedAccount("delete-trips");
    for (let i = 0; i < 5; i++) await login(account);
    await seedRows(account.userId, account.email.toLowerCase(), { passkeys: 10, identities: 3, events: 100 });
    const counted = countingDb();
    const pending: Promise<unknown>[] = [];
    const deps: Deps = {
      env: Object.create(env, { DB: { value: counted.db } }) as Env,
      config: loadConfig(env),
      client: { ipAddress: null, userAgent: null },
      requestId: "test",
      origin: BASE,
      waitUntil: (promise) => void pending.push(promise),
    };
    const deleted = await deleteAccount(deps, account.userId);
    expect(deleted?.id).toBe(account.userId);
    await Promise.all(pending);
    // The batch (the deletion and its user.deleted event); then, after the answer (waitUntil), the
    // event's hand-off marking it queued (API.md §16, src/events) and the notice mail's outbox row.
    expect(counted.trips()).toBe(3);
    // The counter does see single statements (drizzle's and raw ones alike).
    await counted.db.prepare("SELECT 1").first();
    expect(counted.trips()).toBe(4);
    expect(await rowsOfUser(account.userId, account.email.toLowerCase())).toMatchObject({ users: 0, sessions: 0, passkeys: 0, identities: 0, activity: 0 });
    expect(await deleteAccount(deps, account.userId)).toBeNull();
  });
});

describe("a failed deletion", () => {
  it("leaves everything as it was when the batch fails, and the tokens keep working", async () => {
    const account = await verifiedAccount("delete-fault");
    // Rotated once, so the user's object holds token state that a failed deletion must not lose.
    const pair = await json(await refreshWith((await login(account)).refreshToken));
    await seedRows(account.userId, account.email.toLowerCase(), { passkeys: 2, identities: 1, events: 5 });
    const before = await rowsOfUser(account.userId, account.email.toLowerCase());
    const trigger = `fault_d_${account.userId.replace(/-/g, "")}`;
    await env.DB.exec(`CREATE TRIGGER ${trigger} BEFORE DELETE ON users WHEN OLD.id = '${account.userId}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
    try {
      await expectError(await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken, body: { password: PASSWORD } }), 500, "internal");
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    // The right password cleared the failed-login counter (as a login does: count 0, the row kept); nothing else changed.
    expect(await rowsOfUser(account.userId, account.email.toLowerCase())).toEqual(before);
    expect(await env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${account.userId}`).first<number>("count")).toBe(0);
    expect((await objectStorage(account.userId)).rows).toBeGreaterThan(0);
    expect((await call("/v1/auth/me", { token: pair.accessToken })).status).toBe(200);
    expect((await refreshWith(pair.refreshToken)).status).toBe(200);
  });
});

describe("deletion by mailed link", () => {
  it("answers the same for unknown addresses and mails a one-hour link to /delete-account", async () => {
    const account = await verifiedAccount("delete-link");
    const unknown = await call("/v1/auth/request-deletion", { body: { email: uniqueEmail("nobody") } });
    const known = await call("/v1/auth/request-deletion", { body: { email: account.email } });
    expect(unknown.status).toBe(200);
    expect(known.status).toBe(200);
    expect(await json(unknown)).toEqual(await json(known));

    const token = await mailedToken(account.email, "/delete-account", 2);
    const mail = (await mailbox(account.email, 2)).find((m) => m.text.includes("/delete-account"))!;
    expect(mail.text).toContain(`${BASE}/delete-account?token=`);
    expect(mail.text).toContain("60 minutes");
    const stored = await env.DB.prepare("SELECT purpose, expires_at - created_at AS ttl FROM one_time_tokens WHERE user_id = ? AND purpose = 'delete_account'")
      .bind(account.userId)
      .first<{ purpose: string; ttl: number }>();
    expect(stored).toEqual({ purpose: "delete_account", ttl: 3_600_000 });

    const pair = await login(account);
    const confirmed = await call("/v1/auth/confirm-deletion", { body: { token } });
    expect(confirmed.status).toBe(200);
    expect(typeof (await json(confirmed)).message).toBe("string");
    expect((await rowsOfUser(account.userId)).users).toBe(0);
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
    const body = await expectError(await call("/v1/auth/confirm-deletion", { body: { token } }), 400, "invalid_request");
    expect(body.details[0].field).toBe("token");
  });

  it("deletes nothing when the account's address changed after the token was spent (a trigger lands the change there)", async () => {
    const account = await verifiedAccount("delete-moved");
    const pair = await login(account);
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/delete-account", 2);
    const moved = uniqueEmail("moved-away");
    const before = await rowsOfUser(account.userId, account.email.toLowerCase());
    // An email change committed right after the link's token is spent, before the deletion runs.
    const trigger = `moved_d_${account.userId.replace(/-/g, "")}`;
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} AFTER UPDATE OF used_at ON one_time_tokens WHEN NEW.user_id = '${account.userId}' AND NEW.purpose = 'delete_account' ` +
        `BEGIN UPDATE users SET email = '${moved}', email_normalized = lower('${moved}') WHERE id = '${account.userId}'; END`,
    );
    try {
      const refused = await expectError(await call("/v1/auth/confirm-deletion", { body: { token } }), 400, "invalid_request");
      expect(refused.details[0].field).toBe("token");
    } finally {
      await env.DB.exec(`DROP TRIGGER ${trigger}`);
    }
    expect(await rowsOfUser(account.userId, account.email.toLowerCase())).toEqual(before);
    expect((await json(await call("/v1/auth/me", { token: pair.accessToken }))).user.email).toBe(moved);
  });

  it("checks the address inside the deletion's batch: a change landing after any earlier read deletes nothing", async () => {
    const account = await verifiedAccount("delete-race");
    const pair = await login(account);
    await seedRows(account.userId, account.email.toLowerCase(), { passkeys: 1, identities: 1, events: 3 });
    expect((await call("/v1/auth/request-deletion", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/delete-account", 2);
    const moved = uniqueEmail("moved-late");
    // The real D1 binding, with an email change committed just before the first batch is sent:
    // whatever confirmDeletion read before, the deletion's batch is the first thing to see it.
    let changed = false;
    const db = Object.create(env.DB, {
      prepare: { value: (query: string) => env.DB.prepare(query) },
      batch: {
        value: async (statements: D1PreparedStatement[]) => {
          if (!changed) {
            changed = true;
            await env.DB.prepare("UPDATE users SET email = ?, email_normalized = lower(?) WHERE id = ?").bind(moved, moved, account.userId).run();
          }
          return env.DB.batch(statements);
        },
      },
    }) as D1Database;
    const deps = serviceDeps();
    const before = await rowsOfUser(account.userId, account.email.toLowerCase());
    await expect(confirmDeletion({ ...deps, env: Object.create(env, { DB: { value: db } }) as Env }, token)).rejects.toMatchObject({ code: "invalid_request" });
    expect(changed).toBe(true);
    // Nothing of the batch ran: every row is still there (the spent token included), and the account signs in.
    expect(await rowsOfUser(account.userId, account.email.toLowerCase())).toEqual(before);
    expect((await json(await call("/v1/auth/me", { token: pair.accessToken }))).user.email).toBe(moved);
    expect((await call("/v1/auth/login", { body: { email: moved, password: PASSWORD } })).status).toBe(200);
  });

  it("limits the mails per address like the other recovery mails", async () => {
    const email = uniqueEmail("delete-flood");
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call("/v1/auth/request-deletion", { body: { email } })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("answers a malformed body with a §5 error", async () => {
    await expectError(await call("/v1/auth/request-deletion", { body: { email: "not-an-email" } }), 400, "invalid_request");
    await expectError(await call("/v1/auth/confirm-deletion", { rawBody: "{", headers: { "content-type": "application/json" } }), 400, "invalid_request");
  });
});
