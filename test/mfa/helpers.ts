/**
 * The second factor from a user's side, in tests: enrolling an authenticator app through the API,
 * and an independent TOTP (the `otpauth` library, not our code) reading the key URI the service
 * gave and producing codes. `Authenticator.next()` hands out each 30-second step's code once, in
 * increasing steps within the accepted window (±1), waiting for the next step when it must.
 */
import * as OTPAuth from "otpauth";
import { expect } from "vitest";
import { call, json, login, verifiedAccount } from "../helpers";
import type { Account, Json } from "../helpers";

export class Authenticator {
  readonly totp: OTPAuth.TOTP;
  /** The highest step handed out (each step's code is accepted once per factor). */
  lastStep = -Infinity;
  constructor(readonly uri: string) {
    this.totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
  }

  static step(ms = Date.now()) {
    return Math.floor(ms / 30_000);
  }

  /** The code of `step` (by otpauth). */
  codeAt(step: number): string {
    return this.totp.generate({ timestamp: step * 30_000 });
  }

  /** A code of a step not handed out before, inside the window: the earliest such step. */
  async next(): Promise<string> {
    for (;;) {
      const now = Authenticator.step();
      const step = Math.max(this.lastStep + 1, now - 1);
      // Keep a margin at both edges of the window: the request may cross a step boundary. The window's
      // near edge moves up at the next boundary, so the step before `now` is handed out only while
      // that boundary is more than 3 s away (a loaded machine's request crossed it once in a full run);
      // else wait for it, and the earliest step is still the one before the new `now`.
      const nearEdge = step === now - 1 && Date.now() % 30_000 >= 27_000;
      if (!nearEdge && (step <= now || (step === now + 1 && Date.now() % 30_000 > 2_000))) {
        this.lastStep = step;
        return this.codeAt(step);
      }
      await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 50));
    }
  }
}

export interface MfaAccount extends Account {
  authenticator: Authenticator;
  recoveryCodes: string[];
  factorId: string;
  /** The aal2 pair the activation returned. */
  tokens: Json;
  secret: string;
}

/** Enrols and activates a TOTP factor for the signed-in `accessToken`'s account (a password account). */
export async function enableMfa(accessToken: string, password?: string): Promise<Omit<MfaAccount, keyof Account>> {
  const enrolled = await call("/v1/auth/mfa/totp", { body: password === undefined ? {} : { password }, token: accessToken });
  expect(enrolled.status).toBe(200);
  const { factorId, secret, otpauthUri } = await json(enrolled);
  const authenticator = new Authenticator(otpauthUri);
  const activated = await call("/v1/auth/mfa/totp/activate", { body: { factorId, code: await authenticator.next() }, token: accessToken });
  expect(activated.status).toBe(200);
  const body = await json(activated);
  return { authenticator, recoveryCodes: body.recoveryCodes, factorId, tokens: body.tokens, secret };
}

/** A verified password account with an active factor. */
export async function mfaAccount(label = "mfa"): Promise<MfaAccount> {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  return { ...account, ...(await enableMfa(pair.accessToken, account.password)) };
}

/** A password sign-in that must answer 403 mfa_required; returns its body. */
export async function firstFactor(account: Pick<Account, "email" | "password">): Promise<Json> {
  const response = await call("/v1/auth/login", { body: { email: account.email, password: account.password } });
  const body = await json(response);
  expect(response.status, JSON.stringify(body)).toBe(403);
  expect(body.error).toBe("mfa_required");
  return body;
}

/** POST /v1/auth/mfa/verify. */
export function verify(body: Record<string, unknown>, ip?: string): Promise<Response> {
  return call("/v1/auth/mfa/verify", { body, ...(ip ? { ip } : {}) });
}
