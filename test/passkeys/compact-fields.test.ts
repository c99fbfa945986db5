/**
 * Issue 27, slice 11 (src/passkeys/transports.ts): a passkey's transports are stored as an integer
 * of bits when WebAuthn's list (unique, in lexicographical order) reads back exactly, else as the
 * JSON text every row from before keeps; both forms give the same list in the registration
 * options' `excludeCredentials`.
 */
import { describe, expect, it } from "vitest";
import { TRANSPORTS, transportsBits, transportsText } from "../../src/passkeys/transports";
import { PASSWORD, call, env, json, login, mailbox, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { attest, softCredential } from "../helpers/webauthn";
import { userObject } from "../helpers/edge";
import { PK_IS, PK_TEXT, addPasskey, oneToText, passkeyLogin, stored } from "./break-helpers";

/** Registers a soft passkey whose response names `transports`. */
async function register(token: string, transports: string[]) {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  response.response.transports = transports;
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token })).status).toBe(201);
  return credential;
}

const storedTransports = async (userId: string) =>
  (await env.DB.prepare("SELECT typeof(transports) AS form, CASE typeof(transports) WHEN 'blob' THEN hex(transports) ELSE transports END AS value FROM passkeys WHERE user_id = ? ORDER BY created_at, rowid").bind(userId).all<Json>()).results;

const excluded = async (token: string) =>
  (await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }))).options.excludeCredentials.map((c: Json) => c.transports ?? null);

describe("a passkey's transports", () => {
  it("read back exactly from their bits, for every set; other lists have no bits", () => {
    for (let bits = 1; bits < 1 << TRANSPORTS.length; bits++) expect(transportsBits(transportsText(bits))).toBe(bits);
    for (const odd of ['["internal","hybrid"]', '["usb","usb"]', '["lightning"]', "[]", '[ "usb"]', "usb", "{}", "not json"]) expect(transportsBits(odd)).toBeNull();
  });

  it("are stored as bits when WebAuthn's order holds, as text otherwise, and a row from before keeps its text; every form lists the same", async () => {
    const account = await verifiedAccount("pk-transports");
    const pair = await login(account);
    await register(pair.accessToken, ["hybrid", "internal"]);
    await register(pair.accessToken, ["usb", "nfc"]); // not in WebAuthn's order: kept as sent
    await register(pair.accessToken, []);
    expect(await storedTransports(account.userId)).toEqual([
      { form: "blob", value: "0C" },
      { form: "text", value: '["usb","nfc"]' },
      { form: "null", value: null },
    ]);
    // A row written before slice 11 (text), then a fourth registration lists all of them.
    await env.DB.prepare("UPDATE passkeys SET transports = '[\"hybrid\",\"internal\"]' WHERE user_id = ? AND typeof(transports) = 'blob'").bind(account.userId).run();
    expect((await storedTransports(account.userId))[0]).toEqual({ form: "text", value: '["hybrid","internal"]' });
    await register(pair.accessToken, ["internal"]);
    expect((await storedTransports(account.userId))[3]).toEqual({ form: "blob", value: "08" });
    expect(await excluded(pair.accessToken)).toEqual([["hybrid", "internal"], ["usb", "nfc"], null, ["internal"]]);
  });

  it("a passkey's id is stored as 16 bytes; rows of either form are listed, renamed, removed and guarded by the same id", async () => {
    const account = await verifiedAccount("pk-id-bytes");
    const pair = await login(account);
    await addPasskey(pair.accessToken);
    await addPasskey(pair.accessToken);
    const rows = await stored(account.userId);
    expect(rows.map((r: Json) => r.pkForm)).toEqual(["blob", "blob"]);
    expect((await env.DB.prepare("SELECT length(id) AS n FROM passkeys WHERE user_id = ?").bind(account.userId).first<number>("n"))).toBe(16);
    const listed = async () => (await json(await call("/v1/auth/passkeys", { token: pair.accessToken }))).passkeys.map((p: Json) => [p.id, p.name]);
    expect((await listed()).map(([id]: string[]) => id)).toEqual(rows.map((r: Json) => r.pk));
    // The first row's id as text, as written before slice 11 (its binary fields too: oneToText is slice 10's).
    await oneToText(rows[0].pk);
    expect((await stored(account.userId)).map((r: Json) => r.pkForm)).toEqual(["text", "blob"]);
    for (const [i, row] of rows.entries()) {
      const renamed = await call(`/v1/auth/passkeys/${row.pk}`, { method: "PATCH", body: { name: `Key ${i}` }, token: pair.accessToken });
      expect(renamed.status).toBe(200);
    }
    expect(await listed()).toEqual([[rows[0].pk, "Key 0"], [rows[1].pk, "Key 1"]]);
    for (const row of rows) expect((await call(`/v1/auth/passkeys/${row.pk}`, { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken })).status).toBe(204);
    expect(await listed()).toEqual([]);
  });

  it("the last-way guard tells a passkey from the other in either form: two concurrent removals leave one", async () => {
    const g = await call("/v1/auth/guest", { method: "POST" }).then(json);
    // A full password-less account with two passkeys and nothing else (test/passkeys/passkeys.test.ts's race, one id as text).
    const email = `pk-id-race-${crypto.randomUUID()}@example.com`;
    await call("/v1/auth/email-code", { body: { email } });
    const code = /sign-in code is (\d{6})/.exec((await mailbox(email))[0]!.text)![1]!;
    const pair = await json(await call("/v1/auth/email-code/verify", { body: { email, code }, token: g.accessToken }));
    await addPasskey(pair.accessToken);
    await addPasskey(pair.accessToken);
    const rows = await stored(pair.user.id);
    await oneToText(rows[0].pk);
    expect((await stored(pair.user.id)).map((r: Json) => r.pkForm)).toEqual(["text", "blob"]);
    await env.DB.prepare("UPDATE users SET email_verified_at = NULL WHERE id = ?").bind(pair.user.id).run();
    const results = await Promise.all(rows.map((r: Json) => call(`/v1/auth/passkeys/${r.pk}`, { method: "DELETE", token: pair.accessToken })));
    expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
    expect(await stored(pair.user.id)).toHaveLength(1);
  });

  it("a row whose id is text is rewritten to 16 bytes by its next sign-in, on either counter path, and signs in after", async () => {
    const account = await verifiedAccount("pk-id-rewrite");
    const pair = await login(account);
    const counted = await addPasskey(pair.accessToken);
    const uncounted = await addPasskey(pair.accessToken);
    const before = await stored(account.userId);
    for (const row of before) await oneToText(row.pk);
    expect((await stored(account.userId)).map((r: Json) => r.pkForm)).toEqual(["text", "text"]);
    expect((await passkeyLogin(counted)).status).toBe(200);
    expect((await passkeyLogin(uncounted, { counter: 0 })).status).toBe(200);
    await userObject(account.userId).settle();
    const after = await stored(account.userId);
    expect(after.map((r: Json) => [r.pk, r.pkForm])).toEqual(before.map((r: Json) => [r.pk, "blob"]));
    expect((await passkeyLogin(counted)).status).toBe(200);
    expect((await passkeyLogin(uncounted, { counter: 0 })).status).toBe(200);
    expect(await env.DB.prepare(`SELECT ${PK_TEXT} AS pk FROM passkeys WHERE ${PK_IS}`).bind(before[0].pk).first<string>("pk")).toBe(before[0].pk);
  });
});
