/**
 * Asking for an email sign-in code (API.md §11) and reading it from the development outbox, for tests
 * that sign in by code on the way to what they check.
 *
 * @example
 * const code = await requestCode(account.email, 2); // the address's second mail holds it
 */
import { expect } from "vitest";
import { mailbox } from "./accounts";
import { call } from "./http";

/** Asks for a sign-in code and reads it from the outbox (`count`: the mails the address will then have). */
export async function requestCode(email: string, count: number): Promise<string> {
  expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
  const mails = await mailbox(email, count);
  const code = mails.map((m) => /sign-in code is (\d{6})/.exec(m.text)?.[1]).find(Boolean);
  if (!code) throw new Error("no code in the mail");
  return code;
}
