/**
 * Password hashing and policy (API.md §2), run in workerd with the real WebCrypto PBKDF2.
 */
import { describe, expect, it } from "vitest";
import { isCommonPassword } from "../../src/accounts/common-passwords";
import { hashPassword, passwordProblem, verifyPassword } from "../../src/accounts/passwords";

const options = { iterations: 100_000 };

describe("hashing", () => {
  it("makes self-describing, salted hashes that verify only the same password", async () => {
    const a = await hashPassword("correct horse battery", options);
    const b = await hashPassword("correct horse battery", options);
    expect(a).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse battery", a, options)).toEqual({ valid: true, needsRehash: false });
    expect(await verifyPassword("correct horse batterY", a, options)).toEqual({ valid: false, needsRehash: false });
    expect(await verifyPassword("correct horse battery ", a, options)).toEqual({ valid: false, needsRehash: false });
  });

  it("normalises Unicode (NFKC) so the same password typed two ways matches", async () => {
    const composed = await hashPassword("caf\u00e9-ol\u00e9-2024!", options);
    expect((await verifyPassword("cafe\u0301-ole\u0301-2024!", composed, options)).valid).toBe(true);
  });

  it("asks for a rehash when the parameters changed", async () => {
    const old = await hashPassword("correct horse battery", { iterations: 50_000 });
    expect(await verifyPassword("correct horse battery", old, options)).toEqual({ valid: true, needsRehash: true });
  });

  it("treats missing, foreign and over-limit hashes as a wrong password, never an error", async () => {
    expect((await verifyPassword("x", null, options)).valid).toBe(false);
    expect((await verifyPassword("x", "$2b$10$abcdefghijklmnopqrstuv", options)).valid).toBe(false);
    const real = await hashPassword("x-password-long", options);
    const overLimit = real.replace("$100000$", "$600000$");
    expect((await verifyPassword("x-password-long", overLimit, options)).valid).toBe(false);
  });

  it("uses the pepper when one is configured, and says so in the hash", async () => {
    const pepper = "p".repeat(32);
    const peppered = await hashPassword("correct horse battery", { ...options, pepper });
    expect(peppered).toMatch(/^pbkdf2-sha256\+pepper\$100000\$/);
    expect(await verifyPassword("correct horse battery", peppered, { ...options, pepper })).toEqual({ valid: true, needsRehash: false });
    expect((await verifyPassword("correct horse battery", peppered, { ...options, pepper: "q".repeat(32) })).valid).toBe(false);
    expect((await verifyPassword("correct horse battery", peppered, options)).valid).toBe(false);
  });

  it("still verifies hashes made before a pepper was added, and asks to rehash them", async () => {
    const plain = await hashPassword("correct horse battery", options);
    const pepper = "p".repeat(32);
    expect(await verifyPassword("correct horse battery", plain, { ...options, pepper })).toEqual({ valid: true, needsRehash: true });
    expect((await verifyPassword("wrong horse battery", plain, { ...options, pepper })).valid).toBe(false);
  });
});

describe("policy", () => {
  const check = (password: string, extra: { email?: string; username?: string } = {}) =>
    passwordProblem({ password, minLength: 8, ...extra });

  it("enforces length 8 to 128, counting code points", () => {
    expect(check("1234567")).toMatch(/at least 8/);
    expect(check("\u{1F600}".repeat(8))).toBeNull();
    expect(check("a".repeat(129))).toMatch(/at most 128/);
    expect(check("a-fine-passphrase")).toBeNull();
  });

  it("refuses common passwords, whatever their case", () => {
    expect(isCommonPassword("PassWord1")).toBe(true);
    expect(check("Password1")).toMatch(/too common/);
    expect(check("iloveyou1")).toMatch(/too common/);
  });

  it("refuses the email, its local part or the username", () => {
    expect(check("Ada.Lovelace@example.com", { email: "ada.lovelace@example.com" })).toMatch(/email or username/);
    expect(check("ada.lovelace", { email: "ada.lovelace@example.com" })).toMatch(/email or username/);
    expect(check("ada_the_first", { username: "Ada_The_First" })).toMatch(/email or username/);
  });
});
