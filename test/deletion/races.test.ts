/**
 * Writes that race the account's deletion (issue 22 item 5). A request authenticated just before
 * `DELETE /v1/auth/me` commits then writes a row naming the user: passkey options (a challenge), a
 * passkey, an identity link, change-email's token, a failed sign-in's event. Each write is guarded
 * by its session (or its user) when it runs, so the answer is 401 `invalid_token` (a failed
 * sign-in's stays 401 `invalid_credentials`), never a 500 from the users foreign key.
 *
 * Two kinds of test: races over HTTP (both requests in flight at once, several interleavings),
 * which may or may not land in the window; and the same services called with the authentication a
 * request made just before the deletion, which always does. A D1 foreign-key failure that gets past
 * every guard is answered 401 too (src/http/errors.ts, `goneUserError`).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { linkIdentity } from "../../src/identities";
import { requestEmailChange } from "../../src/accounts/email-change";
import { registerPasskey, registrationOptions } from "../../src/passkeys";
import { authenticateToken } from "../../src/sessions";
import { goneUserError } from "../../src/http/errors";
import { PASSWORD, call, json, login, serviceDeps, uniqueEmail, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { mintIdToken } from "../helpers/oidc";
import { attest, softCredential } from "../helpers/webauthn";

const deleteMe = (accessToken: string) => call("/v1/auth/me", { method: "DELETE", token: accessToken, body: { password: PASSWORD } });

/** A signed-in account and the Auth a request of its made before the deletion holds. */
async function doomed(label: string) {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  const auth = await authenticateToken(serviceDeps(), pair.accessToken);
  return { account, pair, auth };
}

async function expectInvalidToken(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code: "invalid_token", status: 401 });
}

describe("a request authenticated just before the deletion writes nothing and answers 401", () => {
  it("passkey registration options (the challenge)", async () => {
    const { pair, auth } = await doomed("gone-options");
    expect((await deleteMe(pair.accessToken)).status).toBe(204);
    await expectInvalidToken(registrationOptions(serviceDeps(), auth));
  });

  it("passkey registration: its insert lands only while the session that asked is live", async () => {
    // Deleting the account takes the challenge with it (the registration is then a 400 before any
    // insert); a registration in flight past its challenge meets the insert's own guard. Ending the
    // session (sign-out) leaves the challenge, so the guard is what refuses here.
    const { pair, auth } = await doomed("gone-passkey");
    const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const response = await attest(await softCredential("ES256"), { challenge: options.options.challenge, userHandle: options.options.user.id });
    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBe(204);
    await expectInvalidToken(registerPasskey(serviceDeps(), auth, { challengeId: options.challengeId, response: response as never }));
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?").bind(auth.userId).first<number>("n");
    expect(rows).toBe(0);
  });

  it("linking an identity", async () => {
    const { pair, auth } = await doomed("gone-link");
    const idToken = await mintIdToken({ sub: `gone-${crypto.randomUUID()}` });
    expect((await deleteMe(pair.accessToken)).status).toBe(204);
    await expectInvalidToken(linkIdentity(serviceDeps(), auth, { provider: "loopback", idToken }));
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM identities WHERE user_id = ?").bind(auth.userId).first<number>("n");
    expect(rows).toBe(0);
  });

  it("change-email's token", async () => {
    const { pair, auth } = await doomed("gone-change");
    expect((await deleteMe(pair.accessToken)).status).toBe(204);
    await expectInvalidToken(requestEmailChange(serviceDeps(), auth, { newEmail: uniqueEmail("gone-next"), password: PASSWORD }));
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM one_time_tokens WHERE user_id = ?").bind(auth.userId).first<number>("n");
    expect(rows).toBe(0);
  });

  it("a foreign-key failure that gets past every guard is 401 invalid_token, and nothing else is", async () => {
    let failure: unknown;
    try {
      await env.DB.prepare("INSERT INTO activity (id, user_id, type, created_at) VALUES (?, ?, 'sign_in', 0)").bind(crypto.randomUUID(), crypto.randomUUID()).run();
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(Error);
    expect(goneUserError(failure)).toMatchObject({ code: "invalid_token", status: 401 });
    expect(goneUserError(new Error("UNIQUE constraint failed: users.email_normalized"))).toBeNull();
  });
});

describe("each write raced with DELETE /v1/auth/me over HTTP", () => {
  const rounds = [0, 1, 2, 5, 10];
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Runs `write` and the deletion together, the deletion started `delay` ms later; returns the write's answer. */
  async function race(label: string, delay: number, write: (pair: Json, account: { email: string }) => Promise<Response>) {
    const account = await verifiedAccount(label);
    const pair = await login(account);
    const [written, deleted] = await Promise.all([write(pair, account), wait(delay).then(() => deleteMe(pair.accessToken))]);
    expect(deleted.status).toBe(204);
    return written;
  }

  async function expectNoServerError(response: Response, ok: number[], errors: string[]): Promise<void> {
    const body = await response.text();
    expect(response.status, body).toBeLessThan(500);
    if (!ok.includes(response.status)) expect(errors).toContain(JSON.parse(body).error);
  }

  it("passkey registration options", async () => {
    for (const delay of rounds) {
      const answer = await race("race-options", delay, (pair) => call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
      await expectNoServerError(answer, [200], ["invalid_token"]);
    }
  });

  it("passkey registration", async () => {
    for (const delay of rounds) {
      const answer = await race("race-passkey", delay, async (pair) => {
        const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
        if (!options.options) return new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 });
        const response = await attest(await softCredential("ES256"), { challenge: options.options.challenge, userHandle: options.options.user.id });
        return call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token: pair.accessToken });
      });
      // A registration whose challenge went with the account is a 400 (unknown challenge).
      await expectNoServerError(answer, [201], ["invalid_token", "invalid_request"]);
    }
  });

  it("identity linking", async () => {
    for (const delay of rounds) {
      const idToken = await mintIdToken({ sub: `race-${crypto.randomUUID()}` });
      const answer = await race("race-link", delay, (pair) => call("/v1/auth/identities", { token: pair.accessToken, body: { provider: "loopback", idToken } }));
      await expectNoServerError(answer, [201], ["invalid_token"]);
    }
  });

  it("change-email's token", async () => {
    for (const delay of rounds) {
      const answer = await race("race-change", delay, (pair) =>
        call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail: uniqueEmail("race-next"), password: PASSWORD } }),
      );
      await expectNoServerError(answer, [200], ["invalid_token"]);
    }
  });

  it("a late sign_in_failed event", async () => {
    for (const delay of rounds) {
      const answer = await race("race-failed", delay, (_pair, account) => call("/v1/auth/login", { body: { email: account.email, password: "not-the-password-55" } }));
      await expectNoServerError(answer, [], ["invalid_credentials"]);
    }
  });
});
