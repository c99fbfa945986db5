/**
 * What the per-user object hands out (src/sessions/user-object.ts): the pair it returns over RPC and
 * the successor pair it seals for the reuse window carry the account's public fields only, never its
 * password hash; a pair sealed in the older shape (the whole user row) is trimmed when opened.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { seal, sha256, unseal } from "../../src/crypto";
import { signIn } from "../../src/sessions";
import { inUserSessions, json, login, refreshWith, serviceDeps, storedPasswordHash, verifiedAccount } from "../helpers";

const PUBLIC_FIELDS = ["createdAt", "email", "emailVerified", "id", "isGuest", "mfaEnabled", "profilePicture", "username"];

const passwordHashOf = async (userId: string) => (await storedPasswordHash(userId)).hash;

describe("pairs carry public user fields only", () => {
  it("signIn's pair has no password hash", async () => {
    const account = await verifiedAccount("rpc-pair");
    const hash = (await passwordHashOf(account.userId))!;
    const pair = await signIn(serviceDeps(), { method: "password", userId: account.userId, passwordHash: hash });
    expect(pair).not.toBeNull();
    expect(Object.keys(pair!.user).sort()).toEqual(PUBLIC_FIELDS);
    expect(pair!.user).toMatchObject({ id: account.userId, email: account.email, emailVerified: true, isGuest: false });
    expect(JSON.stringify(pair)).not.toContain(hash);
  });

  it("sealed for the reuse window: the successor pair has no password hash", async () => {
    const account = await verifiedAccount("sealed-pair");
    const hash = (await passwordHashOf(account.userId))!;
    const first = await login(account);
    const second = await json(await refreshWith(first.refreshToken));
    const oldHash = await sha256(first.refreshToken);
    const sealed = await inUserSessions(account.userId, (sql) =>
      sql.exec<{ s: string }>("SELECT successor_sealed AS s FROM tokens WHERE hash = ?", oldHash).one().s,
    );
    const opened = JSON.parse((await unseal(first.refreshToken, sealed))!);
    expect(opened.refreshToken).toBe(second.refreshToken);
    expect(Object.keys(opened.user).sort()).toEqual(PUBLIC_FIELDS);
    expect(JSON.stringify(opened)).not.toContain(hash);
  });

  it("a pair sealed with the whole user row is answered with the public fields only", async () => {
    const account = await verifiedAccount("legacy-seal");
    const hash = (await passwordHashOf(account.userId))!;
    const first = await login(account);
    const second = await json(await refreshWith(first.refreshToken));
    // Stand-in for a pair sealed before this change: the same pair with the user row as D1 holds it.
    const row = await env.DB.prepare(
      `SELECT id, email, email_normalized AS emailNormalized, username, username_normalized AS usernameNormalized,
              password_hash AS passwordHash, is_guest AS isGuest, email_verified_at AS emailVerifiedAt,
              profile_picture AS profilePicture, created_at AS createdAt, updated_at AS updatedAt,
              disabled_at AS disabledAt, last_sign_in_at AS lastSignInAt FROM users WHERE id = ?`,
    ).bind(account.userId).first<Record<string, unknown>>();
    // The hash as the code reads it (the string): raw SQL returns the BLOB's bytes since issue 27 slice 11.
    expect(typeof row!.passwordHash).not.toBe("string");
    const legacy = { ...second, tokenType: undefined, role: "user", user: { ...row, passwordHash: hash, isGuest: false } };
    const resealed = await seal(first.refreshToken, JSON.stringify(legacy));
    const oldHash = await sha256(first.refreshToken);
    await inUserSessions(account.userId, (sql) => {
      sql.exec("UPDATE tokens SET successor_sealed = ? WHERE hash = ?", resealed, oldHash);
    });

    const repeat = await refreshWith(first.refreshToken);
    expect(repeat.status).toBe(200);
    const body = await json(repeat);
    expect(body.refreshToken).toBe(second.refreshToken);
    expect(body.user).toEqual(second.user);
    expect(JSON.stringify(body)).not.toContain(hash);
  });
});
