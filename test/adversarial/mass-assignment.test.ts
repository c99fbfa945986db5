/**
 * Mass assignment (ASVS 15.3.3): fields a client must never set (id, verification, guest flag, role,
 * hashes, timestamps), in camelCase or snake_case, are ignored by every route that creates or changes
 * an account.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, env, expectError, guest, json, storedPasswordHash, uniqueEmail, uniqueUsername } from "../helpers";

const chosenId = "00000000-0000-4000-8000-000000000001";

const privileged = {
  id: chosenId,
  userId: chosenId,
  emailVerified: true,
  email_verified: true,
  emailVerifiedAt: 1,
  email_verified_at: 1,
  isGuest: false,
  is_guest: true,
  role: "admin",
  passwordHash: "pbkdf2-sha256$1$AAAA$AAAA",
  password_hash: "pbkdf2-sha256$1$AAAA$AAAA",
  createdAt: "1970-01-01T00:00:00.000Z",
};

describe("privileged fields", () => {
  it("are ignored by register: the account is new, unverified and hashed by the service", async () => {
    const email = uniqueEmail("mass");
    const response = await call("/v1/auth/register", { body: { ...privileged, email, password: PASSWORD } });
    expect(response.status).toBe(201);
    const { user } = await json(response);
    expect(user.id).not.toBe(chosenId);
    expect(user).toMatchObject({ email, isGuest: false, emailVerified: false });
    expect(new Date(user.createdAt).getFullYear()).toBeGreaterThan(2000);
    const row = await env.DB.prepare("SELECT email_verified_at AS verified FROM users WHERE id = ?")
      .bind(user.id)
      .first<{ verified: number | null }>();
    expect(row!.verified).toBeNull();
    expect((await storedPasswordHash(user.id)).hash).toMatch(/^pbkdf2-sha256\$100000\$/);
    await expectError(await call("/v1/auth/login", { body: { email, password: PASSWORD } }), 401, "email_not_verified");
  });

  it("are ignored by upgrade: the guest keeps its id and gets role user, unverified", async () => {
    const visitor = await guest();
    const email = uniqueEmail("mass-upgrade");
    const response = await call("/v1/auth/upgrade", {
      token: visitor.accessToken,
      body: { ...privileged, email, username: uniqueUsername("mass"), password: PASSWORD },
    });
    expect(response.status).toBe(201);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: visitor.user.id, email, isGuest: false, emailVerified: false });
    expect(claims(pair.accessToken).role).toBe("user");
    expect(claims(pair.accessToken).sub).toBe(visitor.user.id);
  });
});
