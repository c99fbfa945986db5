/**
 * Passkeys (API.md §12) through the real Worker with a software authenticator
 * (test/helpers/webauthn.ts): registration, discoverable sign-in, and the answers that must fail.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, claims, env, expectError, guest, json, login, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { Algorithm, SoftCredential } from "../helpers/webauthn";

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
      const events = await env.DB.prepare("SELECT type, method FROM activity WHERE user_id = ?").bind(account.userId).all<Json>();
      expect(events.results).toEqual(expect.arrayContaining([{ type: "passkey_added", method: null }, { type: "sign_in", method: "passkey" }]));
    });
  }
});
