/**
 * The one way to write a field a liveness check shows (issue 27; docs/edge-sessions.md "Built"):
 * `email`, `username`, `emailVerifiedAt`, `profilePicture`, `isGuest`, `mfaEnabled`, `disabledAt`,
 * the account's existence, and any D1 revocation of its sessions made outside the user's object.
 * It tells the user's Durable Object before the D1 write (`beginChange`: the object drops its cached
 * answers and keeps no cold read until the change ends) and after it (`endChange`), so `GET
 * /v1/auth/me` and `AuthRpc.verifySession`, which answer from that cache with no D1 trip, show the
 * change (or refuse the session) on the very next request. Every D1 writer of those fields calls it.
 *
 * A failed `beginChange` throws before anything is written. A failed `endChange` is logged and
 * swallowed: the write is done, and the object reads D1 on each check until the change's deadline
 * (src/sessions/profile-cache.ts CHANGE_DEADLINE_MS).
 *
 * @example
 * await changeUser(deps, userId, () => db.batch([db.update(users).set({ username }).where(eq(users.id, userId)), event]));
 */
import { userSessions } from "../http/deps";
import type { Deps } from "../http/deps";
import { log } from "../http/log";

/**
 * Runs `write` (the D1 statements changing user `userId`) between the user object's
 * `beginChange` and `endChange`, and returns what `write` returned (or throws what it threw).
 */
export async function changeUser<T>(deps: Pick<Deps, "env" | "requestId">, userId: string, write: () => Promise<T>): Promise<T> {
  const stub = userSessions(deps, userId);
  const change = await stub.beginChange();
  try {
    return await write();
  } finally {
    await stub.endChange(change.id).catch((error: unknown) => {
      log("warn", "user.change_end_failed", { requestId: deps.requestId, reason: error instanceof Error ? error.name : "unknown" });
    });
  }
}
