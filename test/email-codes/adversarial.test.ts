/**
 * Email codes (API.md §11) under attack: concurrent guesses against one code.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, env, expectError, json, mailbox, uniqueEmail } from "../helpers";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { Json } from "../helpers";

async function requestCode(email: string, count = 1): Promise<string> {
  expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
  const [message] = await mailbox(email, count);
  const code = /sign-in code is (\d{6})/.exec(message!.text)?.[1];
  if (!code) throw new Error("no code in the mail");
  return code;
}

const verify = (email: string, code: string) => call("/v1/auth/email-code/verify", { body: { email, code } });
const other = (code: string, i: number) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, "0");

describe("email code guesses in parallel", () => {
  it("a code is compared at most five times, even when the guesses arrive together", async () => {
    const email = uniqueEmail("code-parallel");
    const code = await requestCode(email);
    // Eight wrong guesses and then the right one, all in flight at once: the right one is the
    // ninth try, so the code must already be void when it is compared.
    const guesses = [...Array.from({ length: 8 }, (_, i) => other(code, i)), code];
    const statuses = (await Promise.all(guesses.map((g) => verify(email, g)))).map((r) => r.status);
    expect(statuses.at(-1)).toBe(401);
    expect(statuses.filter((s) => s === 200)).toHaveLength(0);
    const users = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email_normalized = ?").bind(email).first<Json>();
    expect(users.n).toBe(0);
  });
});

describe("account pre-hijacking", () => {
  it("a passkey added to an address nobody had proven does not survive the owner's code", async () => {
    // The attacker registers the victim's address with a password, signs in and adds a passkey.
    const email = uniqueEmail("prehijack-passkey");
    // (REQUIRE_EMAIL_VERIFICATION=false lets a password sign in before the address is proven.)
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: worker } = await import("../../src");
    const ctx = createExecutionContext();
    const registered = await worker.fetch(
      new Request("http://auth.test/v1/auth/register", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": `10.252.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` },
        body: JSON.stringify({ email, password: PASSWORD }),
      }),
      { ...env, REQUIRE_EMAIL_VERIFICATION: "false" } as unknown as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const pair = await json(registered);
    expect(pair.accessToken).toBeTypeOf("string");
    const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const credential = await softCredential("ES256");
    const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
    expect((await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token: pair.accessToken })).status).toBe(201);

    // The owner proves the address with a code: the attacker's ways in must all be gone.
    const messages = await mailbox(email, 1);
    expect((await verify(email, await requestCode(email, messages.length + 1))).status).toBe(200);
    const login = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
    const assertion = await assert(credential, { challenge: login.options.challenge });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: login.challengeId, response: assertion } }), 401, "invalid_credentials");
  });
});

describe("guests racing for one address", () => {
  it("two guests verifying the same code at once: one is upgraded, the other stays a guest", async () => {
    const { guest } = await import("../helpers");
    const [a, b] = [await guest(), await guest()];
    const email = uniqueEmail("guest-race");
    const code = await requestCode(email);
    const [ra, rb] = await Promise.all([a, b].map((g) => call("/v1/auth/email-code/verify", { body: { email, code }, token: g.accessToken })));
    expect([ra!.status, rb!.status].sort()).toEqual([200, 401]);
    const owner = await env.DB.prepare("SELECT id, is_guest FROM users WHERE email_normalized = ?").bind(email).first<Json>();
    const winner = ra!.status === 200 ? a : b;
    const loser = ra!.status === 200 ? b : a;
    expect(owner).toMatchObject({ id: winner.user.id, is_guest: 0 });
    const other = await env.DB.prepare("SELECT is_guest, email FROM users WHERE id = ?").bind(loser.user.id).first<Json>();
    expect(other).toMatchObject({ is_guest: 1, email: null });
  });
});
