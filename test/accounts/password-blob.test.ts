/**
 * The password hash stored as a BLOB (issue 27 slice 11, src/accounts/password-column.ts): new and
 * changed hashes are BLOBs, a row from before keeps its text and still signs in, changes and
 * resets (every guard compares both forms), a hash with no BLOB form stays text, and a BLOB the
 * service did not write refuses the password instead of failing. Read back with
 * test/helpers/password-hash.ts's own decoder.
 */
import { describe, expect, it } from "vitest";
import { hashPassword, hashOptions } from "../../src/accounts/passwords";
import { passwordHashBytes, passwordHashText } from "../../src/accounts/password-column";
import { loadConfig } from "../../src/config";
import {
  call, env, expectError, json, login, mailedToken, PASSWORD, storedPasswordHash, verifiedAccount,
} from "../helpers";
import { activityOf } from "../helpers/activity";

/** The account's hash rewritten as text, as the version before this change stored it. */
async function toText(userId: string, text?: string): Promise<string> {
  const hash = text ?? (await storedPasswordHash(userId)).hash!;
  await env.DB.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(hash, userId).run();
  expect(await storedPasswordHash(userId)).toMatchObject({ form: "text", hash });
  return hash;
}

describe("the password hash's BLOB form", () => {
  it("round-trips every hash the service makes, and refuses to encode what would not read back the same", async () => {
    const options = hashOptions({ config: loadConfig(env) });
    for (const pepper of [undefined, "a-pepper-of-some-length"]) {
      const hash = await hashPassword(PASSWORD, { ...options, pepper });
      const bytes = passwordHashBytes(hash)!;
      expect(bytes.length).toBe(54);
      expect(passwordHashText(bytes)).toBe(hash);
    }
    const hash = await hashPassword(PASSWORD, options);
    const [name, count, salt, key] = hash.split("$");
    for (const odd of [
      `${name}$0${count}$${salt}$${key}`, // leading zero
      `${name}$${count}$${salt}=$${key}`, // padding
      `bcrypt$${count}$${salt}$${key}`,
      `${name}$${count}$${salt}$${key}$extra`,
      `${name}$${count}$$${key}`,
      `${name}$4294967296$${salt}$${key}`,
      "not a hash",
    ]) expect(passwordHashBytes(odd)).toBeNull();
  });

  it("stores a new account's hash, and a changed one, as a BLOB; the change's guard and event hold", async () => {
    const account = await verifiedAccount("pwblob");
    const first = await storedPasswordHash(account.userId);
    expect(first).toMatchObject({ form: "blob", length: 54 });
    const pair = await login(account);
    const newPassword = "a-brand-new-password-31";
    const changed = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword } });
    expect(changed.status).toBe(200);
    const second = await storedPasswordHash(account.userId);
    expect(second.form).toBe("blob");
    expect(second.hash).not.toBe(first.hash);
    expect(await activityOf(account.userId, "password_changed")).toHaveLength(1);
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }), 401, "invalid_credentials");
    await login({ email: account.email, password: newPassword });
  });

  it("a hash kept as text from before signs in (and stays text), then changes to a BLOB", async () => {
    const account = await verifiedAccount("pwtext");
    const text = await toText(account.userId);
    // Twice: the sign-in's guard (the object's and D1's) compares the text form; nothing rewrites it.
    await login(account);
    const pair = await login(account);
    expect(await storedPasswordHash(account.userId)).toMatchObject({ form: "text", hash: text });
    const newPassword = "another-fresh-password-47";
    const changed = await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword } });
    expect(changed.status).toBe(200);
    expect((await storedPasswordHash(account.userId)).form).toBe("blob");
    expect(await activityOf(account.userId, "password_changed")).toHaveLength(1);
    await login({ email: account.email, password: newPassword });
  });

  it("a hash kept as text is reset to a BLOB", async () => {
    const account = await verifiedAccount("pwreset");
    await toText(account.userId);
    expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
    const token = await mailedToken(account.email, "/reset-password", 2);
    const newPassword = "reset-to-something-else-58";
    expect((await call("/v1/auth/reset-password", { body: { email: account.email, token, newPassword } })).status).toBe(200);
    expect((await storedPasswordHash(account.userId)).form).toBe("blob");
    await login({ email: account.email, password: newPassword });
  });

  it("an outdated hash kept as text is rehashed at the login into a BLOB", async () => {
    const account = await verifiedAccount("pwrehash");
    const outdated = await hashPassword(PASSWORD, { ...hashOptions({ config: loadConfig(env) }), iterations: 1_000 });
    await toText(account.userId, outdated);
    await login(account);
    const after = await storedPasswordHash(account.userId);
    expect(after.form).toBe("blob");
    expect(after.hash).toMatch(new RegExp(`^pbkdf2-sha256(\\+pepper)?\\$${loadConfig(env).pbkdf2Iterations}\\$`));
    await login(account);
  });

  it("a hash with no exact BLOB form stays text and still signs in and changes", async () => {
    const account = await verifiedAccount("pwodd");
    const [name, count, salt, key] = (await storedPasswordHash(account.userId)).hash!.split("$");
    const odd = await toText(account.userId, `${name}$0${count}$${salt}$${key}`);
    const pair = await login(account);
    expect(await storedPasswordHash(account.userId)).toMatchObject({ form: "text", hash: odd });
    const newPassword = "odd-one-out-replaced-63";
    expect((await call("/v1/auth/change-password", { token: pair.accessToken, body: { currentPassword: PASSWORD, newPassword } })).status).toBe(200);
    expect((await storedPasswordHash(account.userId)).form).toBe("blob");
  });

  it("a BLOB the service did not write refuses the password (401), never a 500", async () => {
    const account = await verifiedAccount("pwjunk");
    await env.DB.prepare("UPDATE users SET password_hash = x'09000186a0' WHERE id = ?").bind(account.userId).run();
    const response = await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } });
    expect(response.status).toBe(401);
    expect((await json(response)).error).toBe("invalid_credentials");
  });
});
