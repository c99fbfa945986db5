/**
 * The daily clean-up also drops expired email codes and WebAuthn challenges (API.md §11, §12):
 * login options and code requests need no account, so without it their rows would only grow.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { env, uniqueEmail } from "../helpers";

describe("scheduled clean-up of password-free sign-in", () => {
  it("drops expired email codes and challenges, and keeps live ones", async () => {
    const now = Date.now();
    const [oldEmail, newEmail] = [uniqueEmail("purge-old"), uniqueEmail("purge-new")];
    const [oldChallenge, newChallenge] = [crypto.randomUUID(), crypto.randomUUID()];
    await env.DB.batch([
      env.DB.prepare("INSERT INTO email_codes (email_normalized, code_hash, attempts, created_at, expires_at) VALUES (?, 'h', 0, ?, ?), (?, 'h', 0, ?, ?)")
        .bind(oldEmail, now - 3_600_000, now - 3_000_000, newEmail, now, now + 600_000),
      env.DB.prepare("INSERT INTO webauthn_challenges (id, kind, user_id, challenge, created_at, expires_at) VALUES (?, 'authentication', NULL, 'c', ?, ?), (?, 'authentication', NULL, 'c', ?, ?)")
        .bind(oldChallenge, now - 3_600_000, now - 3_300_000, newChallenge, now, now + 300_000),
    ]);

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env as Env, ctx);
    await waitOnExecutionContext(ctx);

    const count = async (sql: string, ...binds: unknown[]) => (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())?.n;
    expect(await count("SELECT count(*) AS n FROM email_codes WHERE email_normalized = ?", oldEmail)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM email_codes WHERE email_normalized = ?", newEmail)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM webauthn_challenges WHERE id = ?", oldChallenge)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM webauthn_challenges WHERE id = ?", newChallenge)).toBe(1);
  });
});
