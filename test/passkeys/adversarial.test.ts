/**
 * Passkeys (API.md §12) under attack and at the edges: repeated sign-ins of a guest, names with
 * control characters, challenges used for the other ceremony, deleted users.
 */
import { describe, expect, it } from "vitest";
import { call, env, expectError, guest, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";

async function addPasskey(token: string): Promise<{ credential: SoftCredential; passkey: Json }> {
  const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
  const answer = await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token });
  expect(answer.status).toBe(201);
  return { credential, passkey: (await json(answer)).passkey };
}

async function passkeyLogin(credential: SoftCredential): Promise<Response> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
  const response = await assert(credential, { challenge: options.challenge });
  return call("/v1/auth/passkeys/login", { body: { challengeId, response } });
}

describe("passkey sign-in counting", () => {
  it("a guest's successful passkey sign-ins clear its failed-attempt count like anyone else's", async () => {
    const g = await guest();
    const { credential } = await addPasskey(g.accessToken);
    // More successful sign-ins than ACCOUNT_LOGIN_FAILURES (10 in 15 minutes) allows failures.
    for (let i = 0; i < 12; i++) expect((await passkeyLogin(credential)).status).toBe(200);
  });
});

describe("passkey names", () => {
  it("refuses control characters and line separators in a name (400), on rename and registration", async () => {
    const account = await verifiedAccount("pk-name-ctl");
    const pair = await login(account);
    const { passkey } = await addPasskey(pair.accessToken);
    for (const name of ["a\u0000b", "Laptop\nAdmin", "x\u001b[31m", "\u202eevil\u2028"]) {
      await expectError(await call(`/v1/auth/passkeys/${passkey.id}`, { method: "PATCH", body: { name }, token: pair.accessToken }), 400, "invalid_request");
    }
    const renamed = await call(`/v1/auth/passkeys/${passkey.id}`, { method: "PATCH", body: { name: "  Work laptop  " }, token: pair.accessToken });
    expect((await json(renamed)).passkey.name).toBe("Work laptop");
    await expectError(await call(`/v1/auth/passkeys/${passkey.id}`, { method: "PATCH", body: { name: "x".repeat(65) }, token: pair.accessToken }), 400, "invalid_request");
  });
});

describe("challenges and users", () => {
  it("a registration challenge does not sign in, and stays the registrant's", async () => {
    const account = await verifiedAccount("pk-kind");
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    const reg = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const response = await assert(credential, { challenge: reg.options.challenge });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: reg.challengeId, response } }), 401, "invalid_credentials");
  });

  it("a passkey of a deleted user signs in to nothing", async () => {
    const account = await verifiedAccount("pk-deleted");
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(account.userId).run();
    await expectError(await passkeyLogin(credential), 401, "invalid_credentials");
  });
});

describe("races", () => {
  it("three registrations in flight at nine passkeys: exactly one becomes the tenth", async () => {
    const account = await verifiedAccount("pk-cap-race");
    const pair = await login(account);
    for (let i = 0; i < 9; i++) await addPasskey(pair.accessToken);
    const pending = [];
    for (let i = 0; i < 3; i++) {
      const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
      const response = await attest(await softCredential("ES256"), { challenge: options.options.challenge, userHandle: options.options.user.id });
      pending.push({ challengeId: options.challengeId, response });
    }
    const statuses = (await Promise.all(pending.map((body) => call("/v1/auth/passkeys/register", { body, token: pair.accessToken })))).map((r) => r.status);
    expect(statuses.sort()).toEqual([201, 409, 409]);
    const list = await json(await call("/v1/auth/passkeys", { token: pair.accessToken }));
    expect(list.passkeys).toHaveLength(10);
  });

  it("a sign-in challenge cannot answer a registration", async () => {
    const account = await verifiedAccount("pk-kind-reg");
    const pair = await login(account);
    const reg = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const signIn = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    const response = await attest(await softCredential("ES256"), { challenge: signIn.options.challenge, userHandle: reg.options.user.id });
    await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId: signIn.challengeId, response }, token: pair.accessToken }), 400, "invalid_request");
  });
});

describe("Android app origins", () => {
  const apk = "android:apk-key-hash:sYUC8p5I9SxqFernBPHmDxz_YVZXmVJdW8s-m3RTTqE";
  async function androidLogin(credential: SoftCredential, origin: string, configured = apk): Promise<Response> {
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: worker } = await import("../../src");
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    const response = await assert(credential, { challenge: options.challenge, origin });
    const ctx = createExecutionContext();
    const answer = await worker.fetch(
      new Request("http://auth.test/v1/auth/passkeys/login", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": `10.253.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` },
        body: JSON.stringify({ challengeId, response }),
      }),
      { ...env, WEBAUTHN_ORIGINS: `http://auth.test,${configured}` } as unknown as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return answer;
  }

  it("accepts an assertion from a listed app and refuses another app's", async () => {
    const account = await verifiedAccount("pk-android");
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    expect((await androidLogin(credential, apk)).status).toBe(200);
    await expectError(await androidLogin(credential, "android:apk-key-hash:AAAAC8p5I9SxqFernBPHmDxz_YVZXmVJdW8s-m3RTTqE"), 401, "invalid_credentials");
    await expectError(await androidLogin(credential, "https://evil.example"), 401, "invalid_credentials");
  });

  it("matches the unpadded origin Android sends when the configured hash carries base64 padding", async () => {
    const account = await verifiedAccount("pk-android-pad");
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    expect((await androidLogin(credential, apk, `${apk}=`)).status).toBe(200);
  });
});

describe("the user handle", () => {
  it("a discoverable sign-in without a user handle is refused (WebAuthn §7.2: the user was not identified before)", async () => {
    const account = await verifiedAccount("pk-no-handle");
    const pair = await login(account);
    const { credential } = await addPasskey(pair.accessToken);
    const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    const response = await assert(credential, { challenge: options.challenge, userHandle: null });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response } }), 401, "invalid_credentials");
    expect((await passkeyLogin(credential)).status).toBe(200);
  });
});
