/**
 * Trying to break slice 6 of issue 27 (a85e067): passkey sign-in challenges derived from a UUID
 * version 7 id (src/passkeys/login-challenge.ts), spent in their own Durable Object
 * (src/passkeys/challenge-object.ts), the check gated in the account's object as a password's
 * (src/rate-limit/login-attempt.ts, attempt-gate.ts). Over HTTP in workerd with the real D1 and
 * objects; faults are injected only by handing the Worker an env whose one binding misbehaves.
 *
 * What is attacked: the id's spellings and forgeries, its lifetime edges, the other ceremony's ids,
 * replays at once, the account's 10 failed logins shared with passwords under parallel load, leaked
 * reservations, disabled, deleted and guest accounts, second-factor accounts (aal2), racing
 * counters, unreachable objects (503, never 500) and secrets in answers and logs.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/passkeys/challenge-break.test.ts
 */
import { describe, expect, it } from "vitest";
import { CHALLENGE_TTL_MS } from "../../src/passkeys/challenges";
import { FUTURE_SKEW_MS, loginChallengeOf, uuidV7, uuidV7Time } from "../../src/passkeys/login-challenge";
import { adminCall, call, captureLogs, env, expectError, json, login, rowsOfUser, serviceDeps } from "../helpers";
import type { Json } from "../helpers";
import { countActivity } from "../helpers/activity";
import { assert, attest, softCredential } from "../helpers/webauthn";
import { enrolled, loginOptions, signInBody, passkeyLogin, attemptCount, failedEvents, liveSessions, challengeMarks, tally, via, mixedCase } from "./break-helpers";

describe("the challenge id: spellings, forgeries, lifetime", () => {
  it("upper- and mixed-case spellings name the same challenge: six at once in three spellings sign in once", async () => {
    const { account, credential } = await enrolled("pkb-case");
    const before = await liveSessions(account.userId);
    const body = await signInBody(credential, { counter: 0 });
    const spellings = [body.challengeId, body.challengeId.toUpperCase(), mixedCase(body.challengeId)];
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => (await call("/v1/auth/passkeys/login", { body: { ...body, challengeId: spellings[i % 3] } })).status),
    );
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401, 401]);
    expect(await liveSessions(account.userId)).toBe(before + 1);
    // An upper-case first use spends the lower-case spelling too.
    const upper = await signInBody(credential, { counter: 0 });
    expect((await call("/v1/auth/passkeys/login", { body: { ...upper, challengeId: upper.challengeId.toUpperCase() } })).status).toBe(200);
    await expectError(await call("/v1/auth/passkeys/login", { body: upper }), 401, "invalid_credentials");
    // One object per challenge, named by the lower-case id: nothing kept under the upper-case name.
    expect((await challengeMarks(upper.challengeId)).keys).toEqual(["spent"]);
    expect((await challengeMarks(upper.challengeId.toUpperCase())).keys).toEqual([]);
    // Replays are not failed logins.
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
  });

  it("malformed ids are 400 invalid_request naming challengeId, never 5xx; UUIDs that are not version 7 are 401 and mark nothing", async () => {
    const { account, credential } = await enrolled("pkb-malformed");
    const { challengeId, challenge } = await loginOptions();
    const response = await assert(credential, { challenge, counter: 0 });
    const bare = challengeId.replace(/-/g, "");
    const wrongVariant = `${challengeId.slice(0, 19)}c${challengeId.slice(20)}`;
    for (const bad of ["", "not-a-uuid", `{${challengeId}}`, bare, ` ${challengeId}`, `${challengeId} `, `${challengeId}0`, wrongVariant, `urn:uuid:${challengeId}`, 42, null, ["x"], { id: challengeId }]) {
      const answer = await call("/v1/auth/passkeys/login", { body: { challengeId: bad, response } });
      const body = await expectError(answer, 400, "invalid_request");
      expect(body.details.map((d: Json) => d.field)).toContain("challengeId");
    }
    await expectError(await call("/v1/auth/passkeys/login", { body: { response } }), 400, "invalid_request");
    // Well-formed UUIDs of other versions (the nil and max UUIDs, v4 as registrations use, v1, v8): refused by shape.
    const v4 = crypto.randomUUID();
    const otherVersions = [
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      v4,
      `${challengeId.slice(0, 14)}1${challengeId.slice(15)}`,
      `${challengeId.slice(0, 14)}8${challengeId.slice(15)}`,
    ];
    for (const id of otherVersions) {
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: id, response } }), 401, "invalid_credentials");
      expect(await challengeMarks(id)).toEqual({ keys: [], alarm: null });
    }
    // The extremes of a version 7 id's 48-bit time: the epoch (expired) and 8921 (the future).
    for (const id of ["00000000-0000-7000-8000-000000000000", "ffffffff-ffff-7fff-bfff-ffffffffffff"]) {
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: id, response } }), 401, "invalid_credentials");
      expect(await challengeMarks(id)).toEqual({ keys: [], alarm: null });
    }
    expect(await attemptCount(account.userId)).toBe(0);
    // The real id was never named in all that: still answerable.
    expect((await call("/v1/auth/passkeys/login", { body: { challengeId, response } })).status).toBe(200);
  });

  it("a forged version 7 id (right shape, right time, no key) signs nothing and leaves the real challenge answerable", async () => {
    const { account, credential } = await enrolled("pkb-forged");
    const { challengeId, challenge } = await loginOptions();
    const made = uuidV7Time(challengeId)!;
    const lastHex = challengeId.at(-1)!;
    const forgeries = [
      `${challengeId.slice(0, -1)}${lastHex === "0" ? "1" : "0"}`, // one bit of the random part
      uuidV7(made), // the same instant, other random bits
      uuidV7(Date.now()), // a fresh id no options made
    ];
    const config = serviceDeps().config;
    for (const forged of forgeries) {
      expect(uuidV7Time(forged)).not.toBeNull();
      // The server would expect another challenge for it, one only its key can compute.
      expect((await loginChallengeOf(config, forged, Date.now()))?.challenge).not.toBe(challenge);
      // The real challenge's signature, presented under the forged id.
      const response = await assert(credential, { challenge, counter: 0 });
      await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: forged, response } }), 401, "invalid_credentials");
      // The forged id's first use spent it (right or wrong).
      expect((await challengeMarks(forged)).keys).toEqual(["spent"]);
    }
    // The known credential checked against the wrong challenge: failed logins, counted like wrong passwords.
    expect(await attemptCount(account.userId)).toBe(3);
    expect(await failedEvents(account.userId, "passkey")).toBe(3);
    // The real id was not touched by its neighbours.
    expect((await challengeMarks(challengeId)).keys).toEqual([]);
    const right = await call("/v1/auth/passkeys/login", { body: { challengeId, response: await assert(credential, { challenge, counter: 0 }) } });
    expect(right.status).toBe(200);
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("lifetime edges: answerable just under 5 minutes old and up to 5 s ahead; refused just past either, counting nothing", async () => {
    const { account, credential } = await enrolled("pkb-lifetime");
    const config = serviceDeps().config;
    // Ids made as the options would have made them at other instants, answered with the server's own derivation.
    const at = async (made: number) => {
      const challengeId = uuidV7(made);
      const derived = await loginChallengeOf(config, challengeId, made);
      return { challengeId, response: await assert(credential, { challenge: derived!.challenge, counter: 0 }) };
    };
    const nearlyExpired = await at(Date.now() - CHALLENGE_TTL_MS + 5_000);
    expect((await call("/v1/auth/passkeys/login", { body: nearlyExpired })).status).toBe(200);
    const ahead = await at(Date.now() + FUTURE_SKEW_MS - 2_000);
    expect((await call("/v1/auth/passkeys/login", { body: ahead })).status).toBe(200);
    // Its mark is kept a full lifetime past its own expiry, counted from its (future) time.
    expect(await challengeMarks(ahead.challengeId)).toEqual({ keys: ["spent"], alarm: uuidV7Time(ahead.challengeId)! + 2 * CHALLENGE_TTL_MS });

    for (const body of [await at(Date.now() - CHALLENGE_TTL_MS - 50), await at(Date.now() + FUTURE_SKEW_MS + 2_000)]) {
      await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
      // Refused by the id alone: no object was asked.
      expect(await challengeMarks(body.challengeId)).toEqual({ keys: [], alarm: null });
    }
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
  });

  it("the other ceremony's ids: a registration id signs in nothing and marks nothing; a sign-in id in any spelling registers nothing", async () => {
    const { account, pair, credential } = await enrolled("pkb-ceremony");
    // A registration challenge (a UUID v4 with a D1 row) presented to the sign-in, answered over its own challenge.
    const reg = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: pair.accessToken }));
    const overReg = await assert(credential, { challenge: reg.options.challenge, counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId: reg.challengeId, response: overReg } }), 401, "invalid_credentials");
    expect(await challengeMarks(reg.challengeId)).toEqual({ keys: [], alarm: null });
    expect(await attemptCount(account.userId)).toBe(0);

    // A sign-in id presented to the registration, lower- and upper-case: no D1 row has it.
    const signIn = await loginOptions();
    const passkeysBefore = (await rowsOfUser(account.userId)).passkeys;
    for (const challengeId of [signIn.challengeId, signIn.challengeId.toUpperCase()]) {
      const response = await attest(await softCredential("ES256"), { challenge: signIn.challenge, userHandle: reg.options.user.id });
      await expectError(await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token: pair.accessToken }), 400, "invalid_request");
    }
    expect((await rowsOfUser(account.userId)).passkeys).toBe(passkeysBefore);
  });
});

describe("spent by its first use, whatever the answer", () => {
  it("an unknown credential's use spends the id: the right credential after it is refused", async () => {
    const { account, credential } = await enrolled("pkb-first-unknown");
    const { challengeId, challenge } = await loginOptions();
    const stranger = { ...(await softCredential("ES256")), userHandle: credential.userHandle };
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: await assert(stranger, { challenge }) } }), 401, "invalid_credentials");
    const right = await assert(credential, { challenge, counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: { challengeId, response: right } }), 401, "invalid_credentials");
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await liveSessions(account.userId)).toBe(1); // the enrolment's password session alone
  });

  it("a disabled account: a right passkey is 403 account_disabled on both counter paths, a wrong one 401; the used ids stay spent after enabling", async () => {
    const { account, credential } = await enrolled("pkb-disabled");
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    const zero = await signInBody(credential, { counter: 0 });
    await expectError(await call("/v1/auth/passkeys/login", { body: zero }), 403, "account_disabled");
    const counted = await signInBody(credential, { counter: 4 });
    await expectError(await call("/v1/auth/passkeys/login", { body: counted }), 403, "account_disabled");
    // A refused sign-in stores nothing of its assertion: no counter, no last use.
    expect(await env.DB.prepare("SELECT sign_count, last_used_at FROM passkeys WHERE user_id = ?").bind(account.userId).first()).toEqual({ sign_count: 0, last_used_at: null });
    // Without the key, the account's state is not revealed: a wrong assertion is the usual 401.
    await expectError(await passkeyLogin(credential, { origin: "https://evil.example", counter: 0 }), 401, "invalid_credentials");
    expect(await liveSessions(account.userId)).toBe(0);
    expect(await countActivity(account.userId, "sign_in", "passkey")).toBe(0);

    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    for (const body of [zero, counted]) await expectError(await call("/v1/auth/passkeys/login", { body }), 401, "invalid_credentials");
    const back = await passkeyLogin(credential, { counter: 5 });
    expect(back.status).toBe(200);
    expect((await json(back)).user.id).toBe(account.userId);
  });
});

describe("faults: an unreachable object is 503 unavailable, never 500", () => {
  /** The 503 of API.md §5: JSON, Retry-After, and nothing of the fault. */
  async function expectUnavailable(response: Response) {
    const body = await expectError(response, 503, "unavailable");
    expect(Object.keys(body).sort()).toEqual(["error", "message", "statusCode"]);
    expect(JSON.stringify(body)).not.toMatch(/test\)|stack|at \w+ \(/i);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  }

  it("the challenge's object rejects: 503, nothing counted or started, and the id is still answerable once it is back", async () => {
    const { account, credential } = await enrolled("pkb-spend-down");
    const broken = {
      idFromName: (name: string) => env.LOGIN_CHALLENGES.idFromName(name),
      get: () => ({ spend: () => Promise.reject(Object.assign(new Error("Durable Object reset because its code was updated. (test)"), { retryable: true })) }),
    };
    const down = via({ ...env, LOGIN_CHALLENGES: broken } as unknown as Env);
    const right = await signInBody(credential, { counter: 0 });
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body: right }));
    await expectUnavailable(await passkeyLogin(credential, { uv: false }, down));
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
    expect(await liveSessions(account.userId)).toBe(1);
    // Nothing was marked: the same id signs in through the real object.
    expect((await call("/v1/auth/passkeys/login", { body: right })).status).toBe(200);
  });

  it("the challenge's namespace throws as the stub is made: still 503, not 500", async () => {
    const { account, credential } = await enrolled("pkb-stub-down");
    const broken = {
      idFromName: (name: string) => env.LOGIN_CHALLENGES.idFromName(name),
      get: () => {
        throw new Error("Durable Object namespace unavailable (test)");
      },
    };
    const down = via({ ...env, LOGIN_CHALLENGES: broken } as unknown as Env);
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 0 }) }));
    expect(await attemptCount(account.userId)).toBe(0);
  });

  it("the account's gate rejects: 503, nothing counted, and the id was spent", async () => {
    const { account, credential } = await enrolled("pkb-gate-down");
    const broken = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: () => ({ reserveAttempt: () => Promise.reject(new Error("Network connection lost (test)")) }),
    };
    const down = via({ ...env, USER_SESSIONS: broken } as unknown as Env);
    const body = await signInBody(credential, { counter: 0 });
    await expectUnavailable(await down("/v1/auth/passkeys/login", { body }));
    expect(await attemptCount(account.userId)).toBe(0);
    expect(await failedEvents(account.userId)).toBe(0);
    expect((await challengeMarks(body.challengeId)).keys).toEqual(["spent"]);
  });
});

describe("faults in the user's object after the gate", () => {
  it("the session start in the user's object rejects (a zero counter's path): 503 unavailable, not 500, and the reservation is not leaked", async () => {
    const { account, credential } = await enrolled("pkb-start-down");
    const namespace = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: (id: DurableObjectId) => {
        const real = env.USER_SESSIONS.get(id);
        return new Proxy(real, {
          get(target, key) {
            // As the runtime rejects a call to an object that was reset (its `retryable` flag set).
            if (key === "startSession") return () => Promise.reject(Object.assign(new Error("Durable Object reset because its code was updated. (test)"), { retryable: true }));
            return Reflect.get(target, key);
          },
        });
      },
    };
    const down = via({ ...env, USER_SESSIONS: namespace } as unknown as Env);
    const answer = await down("/v1/auth/passkeys/login", { body: await signInBody(credential, { counter: 0 }) });
    const body = await json(answer); // JSON whatever the status
    expect(answer.status).not.toBe(200);
    expect(await attemptCount(account.userId)).toBe(0);
    // The gate holds nothing for it: a full 10 checks, then 429.
    const bodies = await Promise.all(Array.from({ length: 11 }, () => signInBody(credential, { uv: false, counter: 0 })));
    expect(tally(await Promise.all(bodies.map(async (b) => (await call("/v1/auth/passkeys/login", { body: b })).status)))).toEqual({ 401: 10, 429: 1 });
    // API.md §5: a dependency that cannot answer is 503 unavailable (with Retry-After), never 500.
    expect({ status: answer.status, error: body.error }).toEqual({ status: 503, error: "unavailable" });
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("secrets", () => {
  it("refusals are one indistinguishable 401; no answer or log line carries a challenge, signature, handle, token or key", async () => {
    const { account, credential } = await enrolled("pkb-secrets");
    const logs = captureLogs();
    const secrets: string[] = [];
    const refusals: Json[] = [];
    let pair: Json;
    try {
      const keep = (body: { response: Json }, challenge?: string) => {
        secrets.push(body.response.response.signature, body.response.response.clientDataJSON, body.response.response.authenticatorData);
        if (challenge) secrets.push(challenge);
      };
      // A success, then its replay (spent).
      const { challengeId, challenge } = await loginOptions();
      const right = { challengeId, response: await assert(credential, { challenge, counter: 0 }) };
      keep(right, challenge);
      const ok = await call("/v1/auth/passkeys/login", { body: right });
      expect(ok.status).toBe(200);
      pair = await json(ok);
      const replay = await call("/v1/auth/passkeys/login", { body: right });
      // A wrong signature (counted), an unknown credential, a wrong user handle (counted), a v4 id, an expired v7 id.
      const forger = { ...(await softCredential("ES256")), id: credential.id, userHandle: credential.userHandle };
      const forged = await signInBody(forger, { counter: 0 });
      keep(forged);
      const unknown = await signInBody({ ...(await softCredential("ES256")), userHandle: credential.userHandle });
      const handle = await signInBody(credential, { userHandle: "AAAA", counter: 0 });
      keep(handle);
      const answers = [
        replay,
        await call("/v1/auth/passkeys/login", { body: forged }),
        await call("/v1/auth/passkeys/login", { body: unknown }),
        await call("/v1/auth/passkeys/login", { body: handle }),
        await call("/v1/auth/passkeys/login", { body: { ...right, challengeId: crypto.randomUUID() } }),
        await call("/v1/auth/passkeys/login", { body: { ...right, challengeId: uuidV7(Date.now() - CHALLENGE_TTL_MS - 1_000) } }),
      ];
      for (const answer of answers) {
        expect(answer.headers.get("www-authenticate")).toBe("Bearer");
        refusals.push(await expectError(answer, 401, "invalid_credentials"));
      }
    } finally {
      logs.restore();
    }
    // One answer for every refusal: nothing tells an unknown credential from a spent challenge or a bad signature.
    expect(new Set(refusals.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(Object.keys(refusals[0]).sort()).toEqual(["error", "message", "statusCode"]);
    // The logs name the refusals' reasons, and nothing secret.
    expect(logs.events("passkey.refused").map((e) => e.reason).sort()).toEqual(["user_handle", "verification"]);
    const signingKey = JSON.parse((env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY) as { d: string };
    const text = logs.text();
    for (const secret of [...secrets, credential.userHandle!, pair!.accessToken, pair!.refreshToken, signingKey.d]) {
      expect(secret.length).toBeGreaterThan(3);
      expect(text).not.toContain(secret);
    }
    // The success's answer carries the tokens and the user, not the WebAuthn material.
    const answered = JSON.stringify(pair!);
    for (const secret of [...secrets, credential.userHandle!]) expect(answered).not.toContain(secret);
    expect(await attemptCount(account.userId)).toBe(2);
  });
});
