/**
 * Issue 27, slice 10 (src/passkeys/bytes.ts): a passkey's credential id, COSE public key and user
 * handle are stored as BLOBs, and rows written before (base64url text) keep working: they sign in on
 * both counter paths and are rewritten as BLOBs by that sign-in (the path with no counter through
 * the user object's outbox, whose JSON keeps the bytes), a second registration keeps the user's
 * handle whatever form the first row has, a row already in BLOBs is not rewritten, a credential id stored as text cannot be registered again
 * as bytes, and an id that is not canonical base64url is no credential's (401, the challenge spent).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/binary-fields.test.ts
 */
import { describe, expect, it } from "vitest";
import { call, env, expectError, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { attest, fromB64url } from "../helpers/webauthn";
import { countingD1 } from "../helpers/edge";
import { addPasskey, oneToText, passkeyLogin, signInBody, stored } from "./break-helpers";
import type { Send } from "./break-helpers";

const toHex = (value: string) => Array.from(fromB64url(value), (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();

/** Rewrites the user's passkeys as the version before slice 10 wrote them: base64url text. */
async function toTextForm(userId: string) {
  for (const row of await stored(userId)) await oneToText(row.pk);
  expect((await stored(userId)).every((r: Json) => r.idForm === "text" && r.keyForm === "text" && r.handleForm === "text")).toBe(true);
}

const blobs = (rows: Json[]) => rows.map((r) => [r.idForm, r.keyForm, r.handleForm]);

describe("a passkey's binary fields", () => {
  it("are stored as BLOBs; a row in the text form signs in on both counter paths and is rewritten as BLOBs", async () => {
    const account = await verifiedAccount("pk-bytes-old");
    const pair = await login(account);
    const counted = await addPasskey(pair.accessToken);
    const uncounted = await addPasskey(pair.accessToken);
    const fresh = await stored(account.userId);
    expect(blobs(fresh)).toEqual([["blob", "blob", "blob"], ["blob", "blob", "blob"]]);
    expect(fresh.map((r: Json) => r.id)).toEqual([toHex(counted.id), toHex(uncounted.id)]);
    expect(fresh.map((r: Json) => r.handle)).toEqual([toHex(counted.userHandle!), toHex(counted.userHandle!)]);

    await toTextForm(account.userId);
    // The counter's compare-and-set path (its batch on the request's path) rewrites its row.
    expect((await passkeyLogin(counted)).status).toBe(200);
    // A passkey with no counter: its row is rewritten by the user object's owed write.
    expect((await passkeyLogin(uncounted, { counter: 0 })).status).toBe(200);
    await expect.poll(async () => blobs(await stored(account.userId)), { timeout: 5000 }).toEqual([["blob", "blob", "blob"], ["blob", "blob", "blob"]]);
    const after = await stored(account.userId);
    expect(after.map((r: Json) => [r.id, r.key, r.handle])).toEqual(fresh.map((r: Json) => [r.id, r.key, r.handle]));
    // And both go on signing in from the BLOBs.
    expect((await passkeyLogin(counted)).status).toBe(200);
    expect((await passkeyLogin(uncounted, { counter: 0 })).status).toBe(200);
  });

  it("a sign-in rewrites the binary fields of a row kept in text only: a row in BLOBs keeps them (no index write)", async () => {
    const account = await verifiedAccount("pk-bytes-rewrite");
    const pair = await login(account);
    const credential = await addPasskey(pair.accessToken);
    await toTextForm(account.userId);
    const rewrites = async () => {
      const run = await countingD1(account.userId, async (fetchAs) => {
        const send: Send = (path, options) => fetchAs(path, options);
        expect((await passkeyLogin(credential, {}, send)).status).toBe(200);
      });
      const updates = [...run.workerSql, ...run.objectSql].flat().filter((q) => /^update "passkeys"/.test(q));
      expect(updates).toHaveLength(1);
      return /"credential_id" = \?/.test(updates[0]!);
    };
    expect(await rewrites()).toBe(true);
    expect(blobs(await stored(account.userId))).toEqual([["blob", "blob", "blob"]]);
    expect(await rewrites()).toBe(false);
  });

  it("a second registration keeps the handle of a first row in the text form; its credential cannot be registered again as bytes", async () => {
    const account = await verifiedAccount("pk-bytes-second");
    const pair = await login(account);
    const first = await addPasskey(pair.accessToken);
    await toTextForm(account.userId);
    const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    expect(options.options.user.id).toBe(first.userHandle);
    expect(options.options.excludeCredentials.map((c: Json) => c.id)).toEqual([first.id]);
    const second = await addPasskey(pair.accessToken); // refused (409) were the handle compared in one form only
    expect(second.userHandle).toBe(first.userHandle);
    expect(blobs(await stored(account.userId))).toEqual([["text", "text", "text"], ["blob", "blob", "blob"]]);

    // Another account presents the same credential id (the UNIQUE index alone sees one form only).
    const thief = await verifiedAccount("pk-bytes-thief");
    const other = await login(thief);
    const { challengeId, options: otherOptions } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: other.accessToken }));
    const copy = { ...first, counter: 0 };
    const response = await attest(copy, { challenge: otherOptions.challenge, userHandle: otherOptions.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: other.accessToken }), 409, "conflict");
    expect(await stored(thief.userId)).toEqual([]);
  });

  it("an id that is not canonical base64url is no credential's: 401, and the challenge is spent", async () => {
    const account = await verifiedAccount("pk-bytes-spelling");
    const pair = await login(account);
    const credential = await addPasskey(pair.accessToken);
    const body = await signInBody(credential);
    // 32 bytes are 43 characters whose last carries 2 bits over: set one, the bytes read the same.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = credential.id.at(-1)!;
    const spelled = credential.id.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1];
    expect(spelled).not.toBe(credential.id);
    expect(fromB64url(spelled)).toEqual(fromB64url(credential.id));
    const bent = { ...body, response: { ...body.response, id: spelled, rawId: spelled } };
    await expectError(await call("/v1/auth/passkeys/login", { body: bent }), 401, "invalid_credentials");
    // The same challenge, now with the canonical id: spent.
    await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
    expect((await passkeyLogin(credential)).status).toBe(200);
  });
});
