/**
 * Email codes (API.md §11) under attack: concurrent guesses against one code.
 */
import { describe, expect, it } from "vitest";
import { call, env, mailbox, uniqueEmail } from "../helpers";
import type { Json } from "../helpers";

async function requestCode(email: string): Promise<string> {
  expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
  const [message] = await mailbox(email, 1);
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
