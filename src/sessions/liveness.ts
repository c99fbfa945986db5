/**
 * The liveness read, in one place: the session `sessionId` of user `userId` is live (not revoked,
 * not expired at `now`, ms) and the account enabled; one D1 read returning the user row and the
 * session's expiry and assurance, or undefined. `authenticate` (src/sessions/index.ts) runs it on every
 * authenticated request; the user object's cold `check` (src/sessions/profile-object.ts) runs it for
 * `me` and `AuthRpc.verifySession`. Prepared once per database binding.
 *
 * @example
 * const row = await liveSessionRow(env.DB, { sessionId, userId, now: Date.now() });
 * if (!row) throw invalidToken("The session has ended");
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { sessions, users } from "../db/schema";
import type { UserRow } from "../db/schema";
import { liveSession } from "./statements";

const prepared = new WeakMap<D1Database, ReturnType<typeof prepare>>();

function prepare(db: D1Database) {
  return drizzle(db)
    .select({ user: users, expiresAt: sessions.expiresAt, aal: sessions.aal, amr: sessions.amr, authTime: sessions.authTime, createdAt: sessions.createdAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, sql.placeholder("sessionId")),
        eq(sessions.userId, sql.placeholder("userId")),
        // A disabled account's sessions are revoked too; this holds even if that revocation failed.
        isNull(users.disabledAt),
        liveSession(sql.placeholder("now")),
      ),
    )
    .prepare();
}

/**
 * What the liveness read returns: the user row, and the session's expiry (ms, null: none) and
 * assurance columns (null for a session since slice 9, whose assurance the user's object holds).
 */
export interface LiveSessionRow {
  user: UserRow;
  expiresAt: number | null;
  aal: string | null;
  amr: string | null;
  authTime: number | null;
  createdAt: number;
}

/** The user row, session expiry and assurance columns while the session is live, else undefined. */
export async function liveSessionRow(db: D1Database, ids: { sessionId: string; userId: string; now: number }): Promise<LiveSessionRow | undefined> {
  let query = prepared.get(db);
  if (!query) prepared.set(db, (query = prepare(db)));
  return query.get(ids);
}
