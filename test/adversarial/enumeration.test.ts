/**
 * Account enumeration (ASVS 6.3.8, OWASP Forgot Password and Authentication cheat sheets): login,
 * forgot-password, resend-verification and a reset with a wrong token answer an existing and an
 * unknown account alike, byte for byte in status, body and headers apart from the request id, on
 * every door (/v1 and /auth); their throttles count unknown accounts exactly like known ones, so a
 * 429 tells nothing either.
 *
 * Register is the documented exception: API.md §5 makes a taken email or username a 409, because a
 * sign-up form must be able to say so, and the register bucket (10 an hour per address) bounds how
 * fast anyone can probe it. SECURITY.md records the choice. Timing parity is measured by the
 * benchmark, not here.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, freshIp, json, uniqueEmail, uniqueUsername, verifiedAccount } from "../helpers";
import type { Account } from "../helpers";

/** Status, body and every header but the request id. */
async function fingerprint(response: Response) {
  const headers = [...response.headers].filter(([name]) => name !== "x-request-id").sort(([a], [b]) => a.localeCompare(b));
  return { status: response.status, headers, body: await response.text() };
}

async function sameAnswer(path: string, bodies: Record<string, unknown>[]) {
  const answers = [];
  for (const body of bodies) answers.push(await fingerprint(await call(path, { body })));
  for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
  return answers[0]!;
}

let verified: Account;
let unverified: { email: string; username: string };

beforeAll(async () => {
  verified = await verifiedAccount("enum");
  unverified = { email: uniqueEmail("enum-unverified"), username: uniqueUsername("unv") };
  const registered = await call("/v1/auth/register", { body: { ...unverified, password: PASSWORD } });
  expect(registered.status).toBe(201);
});

describe("password login", () => {
  const doors = [
    ["/v1/auth/login", (id: Record<string, string>) => ({ ...id, password: "wrong-password-123" })],
    ["/auth/login", (id: Record<string, string>) => ({ ...id, password: "wrong-password-123" })],
    ["/auth/signin", (id: Record<string, string>) => ({ ...id, password: "wrong-password-123" })],
  ] as const;

  for (const [path, body] of doors) {
    it(`${path} answers a wrong password and an unknown email alike`, async () => {
      const answer = await sameAnswer(path, [
        body({ email: verified.email }),
        body({ email: unverified.email }),
        body({ email: uniqueEmail("nobody") }),
        body({ email: verified.email.toUpperCase() }),
      ]);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body).error).toBe("invalid_credentials");
    });
  }

  it("answers a wrong password and an unknown username alike", async () => {
    const answer = await sameAnswer("/v1/auth/login", [
      { username: verified.username, password: "wrong-password-123" },
      { username: uniqueUsername("nobody"), password: "wrong-password-123" },
    ]);
    expect(answer.status).toBe(401);
  });

  it("throttles an unknown account after exactly as many failures as a known one", async () => {
    const run = async (email: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) {
        statuses.push((await call("/v1/auth/login", { body: { email, password: `wrong-password-${i}` } })).status);
      }
      return statuses;
    };
    const known = await verifiedAccount("enum-throttle");
    const [forKnown, forUnknown] = await Promise.all([run(known.email), run(uniqueEmail("nobody"))]);
    expect(forKnown).toEqual([...Array(10).fill(401), 429]);
    expect(forUnknown).toEqual(forKnown);
  });
});

/** A verified and an unverified account whose addresses no other test mails (3 mails an hour each). */
async function mailTargets() {
  const email = uniqueEmail("enum-unverified");
  const registered = await call("/v1/auth/register", { body: { email, password: PASSWORD } });
  expect(registered.status).toBe(201);
  return { verified: (await verifiedAccount("enum-mail")).email, unverified: email };
}

describe("forgot-password", () => {
  for (const path of ["/v1/auth/forgot-password", "/auth/forgot-password"]) {
    it(`${path} answers an existing, an unverified and an unknown account alike`, async () => {
      const first = await mailTargets();
      const second = await mailTargets();
      const answer = await sameAnswer(path, [
        { email: first.verified },
        { email: first.unverified },
        { email: uniqueEmail("nobody") },
        { email: second.verified, baseUrl: "https://app.example.com" },
        { email: uniqueEmail("nobody"), baseUrl: "https://app.example.com" },
      ]);
      expect(answer.status).toBe(200);
    });
  }

  it("limits mails per address the same way for known and unknown addresses", async () => {
    const run = async (email: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await call("/v1/auth/forgot-password", { body: { email } })).status);
      return statuses;
    };
    const { verified: known } = await mailTargets();
    const forKnown = await run(known);
    expect(forKnown).toEqual([200, 200, 200, 429]);
    expect(await run(uniqueEmail("nobody"))).toEqual(forKnown);
  });
});

describe("resend-verification", () => {
  it("answers an unverified, a verified and an unknown account alike", async () => {
    const targets = await mailTargets();
    const answer = await sameAnswer("/v1/auth/resend-verification", [
      { email: targets.unverified },
      { email: targets.verified },
      { email: uniqueEmail("nobody") },
    ]);
    expect(answer.status).toBe(200);
  });
});

describe("password reset with a wrong token", () => {
  it("answers an existing and an unknown address alike, on both doors", async () => {
    const token = "A".repeat(43);
    const newPassword = "Harbor-Lantern-Violet-77";
    const v1 = await sameAnswer("/v1/auth/reset-password", [
      { email: verified.email, token, newPassword },
      { email: unverified.email, token, newPassword },
      { email: uniqueEmail("nobody"), token, newPassword },
    ]);
    expect(v1.status).toBe(400);
    const answers = [];
    for (const email of [verified.email, uniqueEmail("nobody")]) {
      answers.push(await fingerprint(await call(`/auth/password-reset/${encodeURIComponent(email)}`, { body: { password: newPassword, token } })));
    }
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]!.status).toBe(400);
  });
});

describe("register (the documented exception)", () => {
  it("answers 409 conflict for a taken email, in any case and spacing", async () => {
    for (const email of [verified.email, verified.email.toUpperCase(), `  ${verified.email} `]) {
      const response = await call("/v1/auth/register", { body: { email, password: PASSWORD } });
      const body = await expectError(response, 409, "conflict");
      expect(body.details).toEqual([{ field: "email", message: "is already taken" }]);
    }
  });

  it("answers 409 conflict for a taken username", async () => {
    const response = await call("/v1/auth/register", {
      body: { email: uniqueEmail("enum-new"), username: verified.username.toUpperCase(), password: PASSWORD },
    });
    await expectError(response, 409, "conflict");
  });

  it("limits how fast one address can probe: 10 registrations an hour", async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await call("/v1/auth/register", { ip, body: { email: verified.email, password: PASSWORD } });
      statuses.push(response.status);
      if (response.status === 429) expect((await json(response)).error).toBe("rate_limited");
    }
    expect(statuses).toEqual([...Array(10).fill(409), 429]);
  });
});
