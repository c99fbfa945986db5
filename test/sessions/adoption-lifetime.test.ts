/**
 * Review of sessions adopted late (src/sessions/user-object.ts `#adopt`): a guest's session the
 * object has not adopted yet must fare after the guest's upgrade exactly like one it had adopted.
 * The upgrade restarts the lifetime (SESSION_MAX_DAYS) of every session the object holds
 * (`expireUnlimited`); a session adopted only after the upgrade must get the same restart, or it is
 * "expired" at its first refresh once the guest is older than SESSION_MAX_DAYS.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, advanceUserClock, call, freshIp, json, legacyGuest, refreshWith, toLegacyLayout, uniqueEmail, uniqueUsername } from "../helpers";
import type { Json } from "../helpers";
import { assert, attest, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";

const DAY = 86_400_000;

async function addPasskey(token: string): Promise<SoftCredential> {
  const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential();
  const response = await attest(credential, { challenge: options.options.challenge, userHandle: options.options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token })).status).toBe(201);
  return credential;
}

async function passkeyLogin(credential: SoftCredential): Promise<Json> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
  const response = await assert(credential, { challenge: options.challenge });
  const answer = await call("/v1/auth/passkeys/login", { body: { challengeId, response } });
  expect(answer.status).toBe(200);
  return json(answer);
}

async function upgrade(token: string): Promise<Json> {
  const response = await call("/v1/auth/upgrade", {
    body: { email: uniqueEmail("review-up"), username: uniqueUsername("rv"), password: PASSWORD },
    token,
  });
  expect(response.status).toBe(201);
  return json(response);
}

describe("a guest's second session after the guest's upgrade (guest older than SESSION_MAX_DAYS)", () => {
  it("keeps working when the object had adopted it before the upgrade (control)", async () => {
    const g = await legacyGuest();
    const credential = await addPasskey(g.accessToken);
    const other = await passkeyLogin(credential);
    const rotated = await json(await refreshWith(other.refreshToken)); // adopted now
    await advanceUserClock(g.user.id, 400 * DAY);
    await upgrade(g.accessToken);
    expect((await refreshWith(rotated.refreshToken)).status).toBe(200);
  });

  it("keeps working when the object adopts it only after the upgrade", async () => {
    const g = await legacyGuest();
    const credential = await addPasskey(g.accessToken);
    // Never refreshed, and of the layout before slice 8 (held by no object): not adopted.
    const other = await toLegacyLayout(await passkeyLogin(credential), freshIp(), null);
    await advanceUserClock(g.user.id, 400 * DAY);
    await upgrade(g.accessToken);
    // Fails before the fix: 401 invalid_token (adopted with the D1 row's old created_at, "expired").
    expect((await refreshWith(other.refreshToken)).status).toBe(200);
  });
});
