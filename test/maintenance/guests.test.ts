/**
 * The daily clean-up deletes dead guests: guests with no live session (and no passkey) whose last
 * session ended more than GUEST_RETENTION_DAYS ago, with all their rows and their user object's
 * storage, at most `guestsPerRun` a run, oldest first; live guests, younger ones, guests with a
 * passkey and upgraded accounts stay. Runs over the real D1 and objects; the clean-up's clock is its
 * `now` parameter.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { deleteAccount } from "../../src/deletion";
import { deadGuests, stillDeadGuest } from "../../src/deletion/guests";
import { purgeExpired } from "../../src/maintenance";
import {
  PASSWORD, call, env, guest, json, objectStorage, refreshWith, rowsOfUser, serviceDeps, uniqueEmail, uniqueUsername,
} from "../helpers";
import type { Json } from "../helpers";

const DAY = 86_400_000;
const config = loadConfig(env);
const N = config.guestRetentionMs;
const cleanUp = (now: number, guestsPerRun?: number) => purgeExpired(env as Env, now, config, guestsPerRun);
const gone = (rows: Record<string, number>) => Object.values(rows).every((n) => n === 0);
const userRow = async (userId: string) => env.DB.prepare("SELECT id, is_guest FROM users WHERE id = ?").bind(userId).first();

/** A guest that refreshed once (so its object has storage), then signed out: its only session revoked. */
async function signedOutGuest(): Promise<Json> {
  const pair = await guest();
  const refreshed = await json(await refreshWith(pair.refreshToken));
  expect(refreshed.refreshToken).toBeTypeOf("string");
  expect((await call("/v1/auth/revoke", { body: { refreshToken: refreshed.refreshToken } })).status).toBe(204);
  const session = await env.DB.prepare("SELECT revoked_at FROM sessions WHERE id = ?").bind(pair.sessionId).first<{ revoked_at: number | null }>();
  expect(session?.revoked_at).toBeTypeOf("number");
  return pair;
}

describe("daily clean-up of dead guests", () => {
  it("deletes a signed-out guest after GUEST_RETENTION_DAYS: every row and its object's storage", async () => {
    expect(N).toBe(30 * DAY);
    const pair = await signedOutGuest();
    const userId = pair.user.id;
    expect((await rowsOfUser(userId)).activity).toBeGreaterThan(0);
    expect((await objectStorage(userId)).rows).toBeGreaterThan(0);

    await cleanUp(Date.now() + N - DAY);
    expect(await userRow(userId)).not.toBeNull();

    await cleanUp(Date.now() + N + DAY);
    expect(gone(await rowsOfUser(userId))).toBe(true);
    expect(await objectStorage(userId)).toEqual({ tables: [], rows: 0 });
  });

  it("keeps a guest whose session is live, however old, even with a session that ended long ago", async () => {
    const pair = await guest();
    const userId = pair.user.id;
    const longAgo = Date.now() - 400 * DAY;
    await env.DB.batch([
      env.DB.prepare("UPDATE users SET created_at = ?, last_sign_in_at = ? WHERE id = ?").bind(longAgo, longAgo, userId),
      env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?)")
        .bind(crypto.randomUUID(), userId, longAgo, longAgo, longAgo + DAY),
    ]);

    await cleanUp(Date.now() + 10 * 365 * DAY);
    expect(await userRow(userId)).toMatchObject({ is_guest: 1 });
    const me = await call("/v1/auth/me", { token: pair.accessToken });
    expect(me.status).toBe(200);
  });

  it("keeps a signed-out guest with a passkey (it can sign back in) and an upgraded account", async () => {
    const withPasskey = await signedOutGuest();
    await env.DB.prepare(
      "INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, user_handle, backed_up, name, created_at) VALUES (?, ?, ?, 'pk', 0, ?, 0, 'Key', ?)",
    ).bind(crypto.randomUUID(), withPasskey.user.id, crypto.randomUUID(), crypto.randomUUID(), Date.now()).run();

    const pair = await guest();
    const upgrade = await call("/v1/auth/upgrade", {
      token: pair.accessToken,
      body: { email: uniqueEmail("upgraded"), username: uniqueUsername(), password: PASSWORD },
    });
    expect(upgrade.status).toBe(201);
    const upgraded = await json(upgrade);
    expect((await call("/v1/auth/revoke", { body: { refreshToken: upgraded.refreshToken } })).status).toBe(204);
    const live = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(pair.user.id).first<{ n: number }>();
    expect(live?.n).toBe(0);

    await cleanUp(Date.now() + 10 * 365 * DAY);
    expect(await userRow(withPasskey.user.id)).toMatchObject({ is_guest: 1 });
    expect(await userRow(pair.user.id)).toMatchObject({ is_guest: 0 });
  });

  it("a new session or an upgrade landing before the deletion's batch wins: the batch deletes nothing", async () => {
    const now = Date.now() + N + DAY;
    const before = now - N;
    const revived = await signedOutGuest();
    const upgraded = await signedOutGuest();
    const ids = await deadGuests(env.DB, now, N);
    expect(ids).toEqual(expect.arrayContaining([revived.user.id, upgraded.user.id]));
    const rowsBefore = await rowsOfUser(revived.user.id);

    // What a sign-in and an upgrade would commit between the selection and the batch.
    await env.DB.batch([
      env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, last_used_at) VALUES (?, ?, ?, ?)")
        .bind(crypto.randomUUID(), revived.user.id, Date.now(), Date.now()),
      env.DB.prepare("UPDATE users SET is_guest = 0 WHERE id = ?").bind(upgraded.user.id),
    ]);
    for (const pair of [revived, upgraded]) {
      expect(await deleteAccount(serviceDeps(), pair.user.id, { onlyIf: stillDeadGuest(pair.user.id, now, before) })).toBeNull();
    }
    expect(await rowsOfUser(revived.user.id)).toEqual({ ...rowsBefore, sessions: rowsBefore.sessions! + 1 });
    expect(await userRow(upgraded.user.id)).toMatchObject({ is_guest: 0 });
    expect((await objectStorage(revived.user.id)).rows).toBeGreaterThan(0);
    expect(await deadGuests(env.DB, now, N)).not.toEqual(expect.arrayContaining([revived.user.id]));
  });

  it("deletes at most guestsPerRun guests a run, the longest-dead first; the rest go on the next run", async () => {
    const guests = [await signedOutGuest(), await signedOutGuest(), await signedOutGuest()];
    // Aged to long before any other guest, a minute apart: the first is the longest-dead.
    const base = 1_000_000_000;
    await env.DB.batch(
      guests.flatMap((pair, i) => [
        env.DB.prepare("UPDATE users SET created_at = ?, last_sign_in_at = ? WHERE id = ?").bind(base + i * 60_000, base + i * 60_000, pair.user.id),
        env.DB.prepare("UPDATE sessions SET created_at = ?, last_used_at = ?, revoked_at = ? WHERE id = ?")
          .bind(base + i * 60_000, base + i * 60_000, base + i * 60_000 + 1000, pair.sessionId),
      ]),
    );
    const now = Date.now() + N + DAY;
    const dead = await deadGuests(env.DB, now, N);
    expect(dead.slice(0, 3)).toEqual(guests.map((pair) => pair.user.id));

    await cleanUp(now, 2);
    expect(gone(await rowsOfUser(guests[0]!.user.id))).toBe(true);
    expect(gone(await rowsOfUser(guests[1]!.user.id))).toBe(true);
    expect(await userRow(guests[2]!.user.id)).not.toBeNull();

    await cleanUp(now, 2);
    expect(gone(await rowsOfUser(guests[2]!.user.id))).toBe(true);
    expect(await objectStorage(guests[2]!.user.id)).toEqual({ tables: [], rows: 0 });
  });
});
