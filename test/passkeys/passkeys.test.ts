/**
 * Passkeys (API.md §12) through the real Worker with a software authenticator
 * (test/helpers/webauthn.ts): registration, discoverable sign-in, and the answers that must fail.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, env, expectError, guest, json, login, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { assert, attest, fromB64url, softCredential } from "../helpers/webauthn";
import type { Algorithm, SoftCredential } from "../helpers/webauthn";
import { activityOf, countActivity } from "../helpers/activity";

async function registrationOptions(token: string): Promise<Json> {
  const response = await call("/v1/auth/passkeys/register/options", { method: "POST", token });
  expect(response.status).toBe(200);
  return json(response);
}

/** Registers a new software credential for the token's user; returns it with the answer. */
async function addPasskey(token: string, alg: Algorithm = "ES256", name?: string): Promise<{ credential: SoftCredential; passkey: Json }> {
  const { challengeId, options } = await registrationOptions(token);
  const credential = await softCredential(alg);
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  const answer = await call("/v1/auth/passkeys/register", { body: { challengeId, response, ...(name ? { name } : {}) }, token });
  expect(answer.status).toBe(201);
  return { credential, passkey: (await json(answer)).passkey };
}

async function loginOptions(): Promise<Json> {
  const response = await call("/v1/auth/passkeys/login/options", { method: "POST" });
  expect(response.status).toBe(200);
  return json(response);
}

async function passkeyLogin(credential: SoftCredential, bend: Parameters<typeof assert>[1] extends infer B ? Partial<B> : never = {}): Promise<Response> {
  const { challengeId, options } = await loginOptions();
  const response = await assert(credential, { challenge: options.challenge, ...bend });
  return call("/v1/auth/passkeys/login", { body: { challengeId, response } });
}

describe("passkey registration and sign-in", () => {
  for (const alg of ["ES256", "RS256"] as const) {
    it(`registers an ${alg} passkey and signs in with it`, async () => {
      const account = await verifiedAccount(`pk-${alg}`);
      const pair = await login(account);
      const { passkey, credential } = await addPasskey(pair.accessToken, alg, "Laptop");
      expect(passkey).toMatchObject({ name: "Laptop", lastUsedAt: null, backedUp: false });
      const response = await passkeyLogin(credential);
      expect(response.status).toBe(200);
      const signedIn = await json(response);
      expect(signedIn.user.id).toBe(account.userId);
      expect(claims(signedIn.accessToken)).toMatchObject({ sub: account.userId, role: "user" });
      const events = (await activityOf(account.userId)).map(({ type, method }) => ({ type, method }));
      expect(events).toEqual(expect.arrayContaining([{ type: "passkey_added", method: null }, { type: "sign_in", method: "passkey" }]));
    });
  }
});

describe("passkey registration rules", () => {
  it("asks for a resident key and user verification, ES256 and RS256, no attestation, and a random handle", async () => {
    const account = await verifiedAccount("pk-options");
    const pair = await login(account);
    const { options, challengeId } = await registrationOptions(pair.accessToken);
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(options.authenticatorSelection).toMatchObject({ residentKey: "required", requireResidentKey: true, userVerification: "required" });
    expect(options.pubKeyCredParams.map((p: Json) => p.alg)).toEqual([-7, -257]);
    expect(options.attestation).toBe("none");
    expect(options.rp).toEqual({ name: expect.any(String), id: "auth.test" });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const handle = atob(options.user.id.replace(/-/g, "+").replace(/_/g, "/"));
    expect(handle).not.toContain(account.userId);
    expect(options.user.id).not.toContain(btoa(account.email).slice(0, 10));
    expect(options.user.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(options.excludeCredentials).toEqual([]);
    // Once a passkey exists, the same handle again, and its credential excluded.
    const { credential } = await addPasskey(pair.accessToken);
    const again = await registrationOptions(pair.accessToken);
    expect(again.options.user.id).toBe(credential.userHandle);
    expect(again.options.excludeCredentials.map((c: Json) => c.id)).toEqual([credential.id]);
    // Stored as its 32 bytes, a BLOB (issue 27, slice 10: src/passkeys/bytes.ts), as are the credential id and key.
    const row = await env.DB.prepare("SELECT typeof(user_handle) AS form, hex(user_handle) AS handle, typeof(credential_id) AS idForm, hex(credential_id) AS id, typeof(public_key) AS keyForm FROM passkeys WHERE user_id = ?").bind(account.userId).first<Json>();
    const hex = (value: string) => Array.from(fromB64url(value), (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
    expect(row).toEqual({ form: "blob", handle: hex(credential.userHandle!), idForm: "blob", id: hex(credential.id), keyForm: "blob" });
    const other = await registrationOptions((await guest()).accessToken);
    expect(other.options.user.id).not.toBe(credential.userHandle);
  });

  it("refuses a response without user verification, for a wrong origin or RP ID, or a replayed challenge", async () => {
    const pair = await login(await verifiedAccount("pk-reg-bad"));
    const cases = [{ uv: false }, { origin: "https://evil.example" }, { rpId: "evil.example" }, { type: "webauthn.get" }];
    for (const bend of cases) {
      const { challengeId, options } = await registrationOptions(pair.accessToken);
      const response = await attest(await softCredential(), { challenge: options.challenge, userHandle: options.user.id, ...bend });
      await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken }), 400, "invalid_request");
      // Spent by the failed use: the right answer now fails too.
      const right = await attest(await softCredential(), { challenge: options.challenge, userHandle: options.user.id });
      await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response: right }, token: pair.accessToken }), 400, "invalid_request");
    }
    // A challenge answered with another challenge's value.
    const first = await registrationOptions(pair.accessToken);
    const second = await registrationOptions(pair.accessToken);
    const crossed = await attest(await softCredential(), { challenge: first.options.challenge, userHandle: first.options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId: second.challengeId, response: crossed }, token: pair.accessToken }), 400, "invalid_request");
    expect(await json(await call("/v1/auth/passkeys", { token: pair.accessToken }))).toEqual({ passkeys: [] });
  });

  it("a user cannot answer another user's registration challenge, nor register a credential twice", async () => {
    const a = await login(await verifiedAccount("pk-a"));
    const b = await login(await verifiedAccount("pk-b"));
    const { challengeId, options } = await registrationOptions(a.accessToken);
    const response = await attest(await softCredential(), { challenge: options.challenge, userHandle: options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: b.accessToken }), 400, "invalid_request");
    // A's challenge was not B's to spend: A can still use it.
    expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: a.accessToken })).status).toBe(201);
    // The same credential again, for B: a conflict (the id is registered).
    const bOptions = await registrationOptions(b.accessToken);
    const replayed = await attest({ ...(await softCredential()), id: response.id }, { challenge: bOptions.options.challenge, userHandle: bOptions.options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId: bOptions.challengeId, response: replayed }, token: b.accessToken }), 409, "conflict");
  });

  it("an expired challenge is refused", async () => {
    const pair = await login(await verifiedAccount("pk-expired"));
    const { challengeId, options } = await registrationOptions(pair.accessToken);
    await env.DB.prepare("UPDATE webauthn_challenges SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, challengeId).run();
    const response = await attest(await softCredential(), { challenge: options.challenge, userHandle: options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken }), 400, "invalid_request");
  });

  it("allows at most 10 passkeys per user", async () => {
    const g = await guest();
    for (let i = 0; i < 10; i++) await addPasskey(g.accessToken);
    await expectError(await call("/v1/auth/passkeys/register/options", { method: "POST", token: g.accessToken }), 409, "conflict");
    const listed = await json(await call("/v1/auth/passkeys", { token: g.accessToken }));
    expect(listed.passkeys).toHaveLength(10);
  });

  it("an 11th passkey racing past the options is refused at registration", async () => {
    const g = await guest();
    const pending = await registrationOptions(g.accessToken);
    for (let i = 0; i < 10; i++) await addPasskey(g.accessToken);
    const response = await attest(await softCredential(), { challenge: pending.options.challenge, userHandle: pending.options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId: pending.challengeId, response }, token: g.accessToken }), 409, "conflict");
  });

  it("needs a Bearer token", async () => {
    await expectError(await call("/v1/auth/passkeys/register/options", { method: "POST" }), 401, "invalid_token");
    await expectError(await call("/v1/auth/passkeys"), 401, "invalid_token");
  });
});

describe("passkey sign-in refusals", () => {
  async function enrolled(label: string) {
    const account = await verifiedAccount(label);
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    return { account, pair, credential };
  }

  it("a replayed challenge is refused, even with a fresh valid assertion", async () => {
    const { credential } = await enrolled("pk-replay");
    const { challengeId, options } = await loginOptions();
    const response = await assert(credential, { challenge: options.challenge });
    expect((await call("/v1/auth/passkeys/login", { body: { challengeId, response } })).status).toBe(200);
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response } }), 401, "invalid_credentials");
    const fresh = await assert(credential, { challenge: options.challenge });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: fresh } }), 401, "invalid_credentials");
  });

  it("a failed attempt spends the challenge too", async () => {
    const { credential } = await enrolled("pk-spent");
    const { challengeId, options } = await loginOptions();
    const bad = await assert(credential, { challenge: options.challenge, origin: "https://evil.example" });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: bad } }), 401, "invalid_credentials");
    const good = await assert(credential, { challenge: options.challenge });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: good } }), 401, "invalid_credentials");
  });

  it("refuses a wrong origin, a wrong RP ID hash, no user verification, no user presence, a wrong type", async () => {
    const { credential, account } = await enrolled("pk-bends");
    for (const bend of [{ origin: "https://evil.example" }, { origin: "http://auth.test.evil.example" }, { rpId: "evil.example" }, { uv: false }, { up: false }, { type: "webauthn.create" }]) {
      await expectError(await passkeyLogin(credential, bend), 401, "invalid_credentials");
    }
    expect(await countActivity(account.userId, "sign_in_failed", "passkey")).toBe(6);
    expect((await passkeyLogin(credential)).status).toBe(200);
  });

  it("refuses a counter that does not increase, and records it", async () => {
    const { credential, account } = await enrolled("pk-counter");
    expect((await passkeyLogin(credential, { counter: 5 })).status).toBe(200);
    await expectError(await passkeyLogin(credential, { counter: 5 }), 401, "invalid_credentials");
    await expectError(await passkeyLogin(credential, { counter: 3 }), 401, "invalid_credentials");
    await expectError(await passkeyLogin(credential, { counter: 0 }), 401, "invalid_credentials");
    const row = await env.DB.prepare("SELECT sign_count FROM passkeys WHERE user_id = ?").bind(account.userId).first<Json>();
    expect(row.sign_count).toBe(5);
    expect(await countActivity(account.userId, "sign_in_failed", "passkey")).toBe(3);
    expect((await passkeyLogin(credential, { counter: 6 })).status).toBe(200);
  });

  it("of two assertions signed with the same counter and presented at once, only one starts a session", async () => {
    const { credential, account } = await enrolled("pk-counter-race");
    const prepared = [];
    for (let i = 0; i < 2; i++) {
      const { challengeId, options } = await loginOptions();
      prepared.push({ challengeId, response: await assert(credential, { challenge: options.challenge, counter: 7 }) });
    }
    const statuses = await Promise.all(prepared.map(async (body) => (await call("/v1/auth/passkeys/login", { body })).status));
    expect(statuses.sort()).toEqual([200, 401]);
    const sessions = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(account.userId).first<number>("n");
    expect(sessions).toBe(2); // the enrolment's session and the one sign-in
    expect(await env.DB.prepare("SELECT sign_count AS c FROM passkeys WHERE user_id = ?").bind(account.userId).first<number>("c")).toBe(7);
  });

  it("accepts counters that stay zero (synced passkeys)", async () => {
    const { credential } = await enrolled("pk-zero");
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200);
    expect((await passkeyLogin(credential, { counter: 0 })).status).toBe(200);
  });

  it("refuses an assertion whose user handle is another user's, or signed by another key", async () => {
    const a = await enrolled("pk-handle-a");
    const b = await enrolled("pk-handle-b");
    await expectError(await passkeyLogin(a.credential, { userHandle: b.credential.userHandle }), 401, "invalid_credentials");
    // B's key signing for A's credential id.
    const { challengeId, options } = await loginOptions();
    const forged = await assert({ ...b.credential, id: a.credential.id, userHandle: a.credential.userHandle }, { challenge: options.challenge });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: forged } }), 401, "invalid_credentials");
    // An unknown credential.
    await expectError(await passkeyLogin(await softCredential()), 401, "invalid_credentials");
  });

  it("counts failures per account: 429 after the limit, for passwords too", async () => {
    const { credential, account } = await enrolled("pk-lock");
    for (let i = 0; i < 10; i++) await expectError(await passkeyLogin(credential, { uv: false }), 401, "invalid_credentials");
    await expectError(await passkeyLogin(credential), 429, "rate_limited");
    await expectError(await call("/v1/auth/login", { body: { email: account.email, password: PASSWORD } }), 429, "rate_limited");
  });

  it("a disabled account answers 403 account_disabled", async () => {
    const { credential, account } = await enrolled("pk-disabled");
    await env.DB.prepare("UPDATE users SET disabled_at = ? WHERE id = ?").bind(Date.now(), account.userId).run();
    await expectError(await passkeyLogin(credential), 403, "account_disabled");
  });

  it("login options carry no allow-list and ask for user verification", async () => {
    const { options, challengeId } = await loginOptions();
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options).toMatchObject({ rpId: "auth.test", userVerification: "required" });
  });
});

describe("managing passkeys", () => {
  it("lists, renames and deletes; activity passkey_removed", async () => {
    const account = await verifiedAccount("pk-manage");
    const pair = await login(account);
    const first = await addPasskey(pair.accessToken, "ES256", "Phone");
    const second = await addPasskey(pair.accessToken, "RS256");
    const listed = await json(await call("/v1/auth/passkeys", { token: pair.accessToken }));
    expect(listed.passkeys.map((p: Json) => p.name)).toEqual(["Phone", "Passkey"]);
    expect(Object.keys(listed.passkeys[0]).sort()).toEqual(["backedUp", "createdAt", "id", "lastUsedAt", "name"]);
    const renamed = await call(`/v1/auth/passkeys/${second.passkey.id}`, { method: "PATCH", body: { name: "  Laptop " }, token: pair.accessToken });
    expect(renamed.status).toBe(200);
    expect((await json(renamed)).passkey).toMatchObject({ id: second.passkey.id, name: "Laptop" });
    await expectError(await call(`/v1/auth/passkeys/${second.passkey.id}`, { method: "PATCH", body: { name: "" }, token: pair.accessToken }), 400, "invalid_request");
    // Someone else's passkey is not found.
    const other = await login(await verifiedAccount("pk-other"));
    await expectError(await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "PATCH", body: { name: "x" }, token: other.accessToken }), 404, "not_found");
    await expectError(await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", body: { password: PASSWORD }, token: other.accessToken }), 404, "not_found");
    await expectError(await call(`/v1/auth/passkeys/not-a-uuid`, { method: "DELETE", token: pair.accessToken }), 400, "invalid_request");
    // The account has a password: it is required, and a wrong one is 401.
    await expectError(await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", token: pair.accessToken }), 400, "invalid_request");
    await expectError(await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", body: { password: "wrong-password-123" }, token: pair.accessToken }), 401, "invalid_credentials");
    const deleted = await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", body: { password: PASSWORD }, token: pair.accessToken });
    expect(deleted.status).toBe(204);
    expect((await json(await call("/v1/auth/passkeys", { token: pair.accessToken }))).passkeys.map((p: Json) => p.id)).toEqual([second.passkey.id]);
    const events = (await activityOf(account.userId)).filter((e) => e.type.startsWith("passkey_"));
    expect(events.map((e) => e.type).sort()).toEqual(["passkey_added", "passkey_added", "passkey_removed"]);
    // The removed passkey no longer signs in; lastUsedAt shows on the one that did.
    await expectError(await passkeyLogin(first.credential), 401, "invalid_credentials");
    expect((await passkeyLogin(second.credential)).status).toBe(200);
    const after = await json(await call("/v1/auth/passkeys", { token: pair.accessToken }));
    expect(after.passkeys[0].lastUsedAt).toEqual(expect.any(String));
  });

  it("the last way to sign in cannot be removed (409); another passkey or a verified address is another way", async () => {
    // A password-less account made by an email code, then the address is taken away from it.
    const email = uniqueEmail("pk-last");
    await call("/v1/auth/email-code", { body: { email } });
    const { mailbox } = await import("../helpers");
    const code = /sign-in code is (\d{6})/.exec((await mailbox(email))[0]!.text)![1]!;
    const pair = await json(await call("/v1/auth/email-code/verify", { body: { email, code } }));
    const first = await addPasskey(pair.accessToken);
    const second = await addPasskey(pair.accessToken);
    await env.DB.prepare("UPDATE users SET email_verified_at = NULL WHERE id = ?").bind(pair.user.id).run();
    // A fresh token (iat within 10 minutes) stands for re-authentication of a password-less account.
    expect((await call(`/v1/auth/passkeys/${first.passkey.id}`, { method: "DELETE", token: pair.accessToken })).status).toBe(204);
    await expectError(await call(`/v1/auth/passkeys/${second.passkey.id}`, { method: "DELETE", token: pair.accessToken }), 409, "conflict");
    expect((await json(await call("/v1/auth/passkeys", { token: pair.accessToken }))).passkeys).toHaveLength(1);
  });

  it("two concurrent removals cannot take away the last way", async () => {
    const g = await guest();
    // A full password-less account with two passkeys and nothing else.
    const email = uniqueEmail("pk-race");
    await call("/v1/auth/email-code", { body: { email } });
    const { mailbox } = await import("../helpers");
    const code = /sign-in code is (\d{6})/.exec((await mailbox(email))[0]!.text)![1]!;
    const pair = await json(await call("/v1/auth/email-code/verify", { body: { email, code }, token: g.accessToken }));
    const a = await addPasskey(pair.accessToken);
    const b = await addPasskey(pair.accessToken);
    await env.DB.prepare("UPDATE users SET email_verified_at = NULL WHERE id = ?").bind(pair.user.id).run();
    const results = await Promise.all([a, b].map((k) => call(`/v1/auth/passkeys/${k.passkey.id}`, { method: "DELETE", token: pair.accessToken })));
    expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
  });

  it("an old token on a password-less account must sign in again (403 reauthentication_required)", async () => {
    const g = await guest();
    const email = uniqueEmail("pk-reauth");
    await call("/v1/auth/email-code", { body: { email } });
    const { mailbox, serviceSigningKey, signToken } = await import("../helpers");
    const code = /sign-in code is (\d{6})/.exec((await mailbox(email))[0]!.text)![1]!;
    const pair = await json(await call("/v1/auth/email-code/verify", { body: { email, code }, token: g.accessToken }));
    const { passkey } = await addPasskey(pair.accessToken);
    const { kid } = await serviceSigningKey();
    const old = await signToken({ alg: "ES256", kid, typ: "JWT" }, { ...claims(pair.accessToken), jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) - 3600 });
    await expectError(await call(`/v1/auth/passkeys/${passkey.id}`, { method: "DELETE", token: old }), 403, "reauthentication_required");
  });
});

describe("guests and passkeys", () => {
  it("a guest adds a passkey, stays a guest, and signs back into the same guest", async () => {
    const g = await guest();
    const { credential } = await addPasskey(g.accessToken, "ES256");
    const me = await json(await call("/v1/auth/me", { token: g.accessToken }));
    expect(me.user).toMatchObject({ id: g.user.id, isGuest: true });
    const response = await passkeyLogin(credential);
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(pair.user).toMatchObject({ id: g.user.id, isGuest: true });
    expect(pair.refreshExpiresIn).toBeNull();
    expect(claims(pair.accessToken).role).toBe("guest");
    expect(pair.sessionId).not.toBe(g.sessionId);
    // A guest's passkey is not its only way back (its refresh token is): it may remove it without a password.
    const { passkey } = (await json(await call("/v1/auth/passkeys", { token: g.accessToken }))).passkeys.map((p: Json) => ({ passkey: p }))[0];
    expect((await call(`/v1/auth/passkeys/${passkey.id}`, { method: "DELETE", token: g.accessToken })).status).toBe(204);
  });
});
