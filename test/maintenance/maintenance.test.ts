/**
 * The daily clean-up removes dead rows and keeps live ones.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { env, guest, uniqueEmail } from "../helpers";

const DAY = 86_400_000;

describe("scheduled clean-up", () => {
  it("drops expired counters, spent tokens, long-ended sessions and old outbox mail", async () => {
    const now = Date.now();
    const live = await guest();
    const old = await guest();
    const tag = crypto.randomUUID();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO counters (key, window_start, count) VALUES (?, ?, 1), (?, ?, 1)")
        .bind(`old:${tag}`, now - 2 * DAY, `new:${tag}`, now),
      env.DB.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?").bind(now - 31 * DAY, old.sessionId),
      env.DB.prepare(
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, email, created_at, expires_at) VALUES (?, ?, 'reset_password', ?, ?, ?), (?, ?, 'reset_password', ?, ?, ?)",
      ).bind(`old-${tag}`, live.user.id, uniqueEmail(), now - 3 * DAY, now - 2 * DAY, `new-${tag}`, live.user.id, uniqueEmail(), now, now + DAY),
      env.DB.prepare("INSERT INTO mail_outbox (id, \"to\", subject, text, html, created_at) VALUES (?, 'x@example.com', 's', 't', 'h', ?)")
        .bind(`old-${tag}`, now - 8 * DAY),
    ]);

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env as Env, ctx);
    await waitOnExecutionContext(ctx);

    const count = async (sql: string, ...binds: unknown[]) =>
      (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())?.n;
    expect(await count("SELECT count(*) AS n FROM counters WHERE key IN (?, ?)", `old:${tag}`, `new:${tag}`)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM counters WHERE key = ?", `new:${tag}`)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM sessions WHERE id = ?", old.sessionId)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM sessions WHERE id = ?", live.sessionId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM one_time_tokens WHERE token_hash IN (?, ?)", `old-${tag}`, `new-${tag}`)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM mail_outbox WHERE id = ?", `old-${tag}`)).toBe(0);
  });
});
