/**
 * Breaking slice 9 (migration 0007: `sessions` keyed by `(user_id, id)`, WITHOUT ROWID; session ids
 * carrying their user's first 8 hex digits; src/sessions/owner.ts `liveSessionOwners`).
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/sessions/clustered-break.test.ts
 */
import { describe, expect, it } from "vitest";
import { call, env, expectError, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";

const DAY = 86_400_000;
const listed = async (token: string) => (await json(await call("/v1/auth/sessions", { token }))).sessions.map((s: Json) => s.id).sort();
const deleteSession = (token: string, id: string) => call(`/v1/auth/sessions/${id}`, { method: "DELETE", token });
const signout = (token: string, sessionIds: string[]) => call("/auth/signout", { method: "POST", token, body: { sessionIds } });

describe("slice 9 break: document 001's signout with a long list of session ids", () => {
  it("a list of 50 ids (the schema's most) ends the caller's own: the owners' read stays within D1's 100 bound parameters", async () => {
    const a = await verifiedAccount("clb-many");
    const first = await login(a);
    const second = await login(a);
    // 49 ids of no session, then a's second one: 50 in all, which SignoutBody accepts.
    const response = await signout(first.accessToken, [...Array.from({ length: 49 }, () => crypto.randomUUID()), second.sessionId]);
    expect(response.status).toBe(200);
    expect(await listed(first.accessToken)).toEqual([first.sessionId]);
  });

  it("a list of 50 naming only another user's live session, last, is still 403", async () => {
    const a = await verifiedAccount("clb-many-a");
    const b = await verifiedAccount("clb-many-b");
    const pairA = await login(a);
    const pairB = await login(b);
    await expectError(await signout(pairA.accessToken, [...Array.from({ length: 49 }, () => crypto.randomUUID()), pairB.sessionId]), 403, "forbidden");
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId]);
  });
});

/**
 * docs/deploying.md: "The version before still works on the new table" (between the migration and
 * the deploy, during a gradual deploy, after a rollback), and a sign-in an object started before the
 * migration may still owe its row (src/sessions/outbox.ts). Such a row has a random id, written
 * after 0007 filled `session_owners`: its owner must still be found.
 */
describe("slice 9 break: a session row with a random id written after the migration", () => {
  async function randomIdSession(userId: string) {
    const id = crypto.randomUUID();
    const now = Date.now();
    // As the version before slice 9 writes a session the object does not hold yet (the layout test's row).
    await env.DB.prepare(
      "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip_address, user_agent, first_refresh_token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
      .bind(id, userId, now, now, now + 30 * DAY, "203.0.113.7", "Old Worker", `no-token-has-this-hash-${id}`)
      .run();
    return id;
  }

  it("its owner ends it with DELETE /v1/auth/sessions/:id (204, not 404), another user gets 403", async () => {
    const a = await verifiedAccount("clb-window-a");
    const b = await verifiedAccount("clb-window-b");
    // Written before b's object starts (D1 written behind a running object's back is not what the version before does).
    const old = await randomIdSession(b.userId);
    const pairA = await login(a);
    const pairB = await login(b);
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId, old].sort());
    await expectError(await deleteSession(pairA.accessToken, old), 403, "forbidden");
    expect((await deleteSession(pairB.accessToken, old)).status).toBe(204);
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId]);
    await expectError(await deleteSession(pairA.accessToken, old), 404, "not_found");
  });

  it("document 001's signout: its owner's list naming it with another user's session ends it (200, not 403)", async () => {
    const a = await verifiedAccount("clb-window-mixed-a");
    const b = await verifiedAccount("clb-window-mixed-b");
    const old = await randomIdSession(b.userId);
    const older = await randomIdSession(b.userId);
    const pairA = await login(a);
    const pairB = await login(b);
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId, old, older].sort());
    expect((await signout(pairB.accessToken, [old, pairA.sessionId])).status).toBe(200);
    expect(await listed(pairB.accessToken)).toEqual([pairB.sessionId, older].sort());
    expect(await listed(pairA.accessToken)).toEqual([pairA.sessionId]);
    // Named alone by another user: 403.
    await expectError(await signout(pairA.accessToken, [older]), 403, "forbidden");
  });
});
