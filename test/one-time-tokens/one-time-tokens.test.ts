/**
 * Single-use mailed tokens (src/one-time-tokens), directly against the real D1: only the hash is
 * stored, a newer token voids the older ones of its purpose, redeeming is one compare-and-set, and
 * purpose and expiry are checked.
 */
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/crypto";
import { users } from "../../src/db/schema";
import { createTokenStatements, findToken, redeemToken } from "../../src/one-time-tokens";

const db = drizzle(env.DB);

async function newUser(): Promise<string> {
  const id = crypto.randomUUID();
  await db.insert(users).values({ id, isGuest: true, createdAt: Date.now(), updatedAt: Date.now() });
  return id;
}

async function issue(userId: string, purpose: "verify_email" | "reset_password" = "verify_email", ttlMs = 60_000) {
  const { token, statements } = await createTokenStatements(db, { userId, email: "a@example.com", purpose, ttlMs });
  await db.batch([...statements]);
  return token;
}

describe("one-time tokens", () => {
  it("stores only the SHA-256 of a 256-bit token", async () => {
    const userId = await newUser();
    const token = await issue(userId);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await env.DB.prepare("SELECT token_hash FROM one_time_tokens WHERE user_id = ?").bind(userId).all<{ token_hash: string }>();
    expect(rows.results).toEqual([{ token_hash: await sha256(token) }]);
  });

  it("peeks without spending, then redeems exactly once", async () => {
    const userId = await newUser();
    const token = await issue(userId);
    expect(await findToken(db, token, "verify_email")).toEqual({ userId, email: "a@example.com" });
    expect(await findToken(db, token, "verify_email")).not.toBeNull();
    const results = await Promise.all([redeemToken(db, token, "verify_email"), redeemToken(db, token, "verify_email")]);
    expect(results.filter(Boolean)).toEqual([{ userId, email: "a@example.com" }]);
    expect(await redeemToken(db, token, "verify_email")).toBeNull();
    expect(await findToken(db, token, "verify_email")).toBeNull();
  });

  it("is refused for another purpose, once expired, or when not plausible", async () => {
    const userId = await newUser();
    const token = await issue(userId, "reset_password");
    expect(await redeemToken(db, token, "verify_email")).toBeNull();
    expect(await redeemToken(db, token, "reset_password")).not.toBeNull();
    const expired = await issue(userId, "verify_email", 0);
    expect(await findToken(db, expired, "verify_email")).toBeNull();
    expect(await redeemToken(db, expired, "verify_email")).toBeNull();
    expect(await redeemToken(db, "short", "verify_email")).toBeNull();
  });

  it("voids the older tokens of the same purpose, not of another", async () => {
    const userId = await newUser();
    const older = await issue(userId, "verify_email");
    const reset = await issue(userId, "reset_password");
    const newer = await issue(userId, "verify_email");
    expect(await redeemToken(db, older, "verify_email")).toBeNull();
    expect(await redeemToken(db, newer, "verify_email")).not.toBeNull();
    expect(await redeemToken(db, reset, "reset_password")).not.toBeNull();
  });
});
