/**
 * The admin API's services (API.md §10): find users, look at one, disable and enable it, end its
 * sessions, delete it. Every change is recorded in the target user's activity in the batch that
 * makes it (a deletion removes the activity with the user, so it leaves none). The key check lives
 * in src/admin/auth.ts.
 *
 * @example
 * import { searchUsers, disableUser } from "../admin";
 * const page = await searchUsers(deps, { query: "ada", limit: 50 });
 * await disableUser(deps, userId);
 */
import { changeUser } from "../accounts/change-user";
import { endChallengesStatement } from "../mfa/statements";
import { and, asc, count, eq, gt, gte, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { publish, userEvent } from "../events";
import { activityView } from "../activity/list";
import { normalizeEmail, publicUser } from "../accounts/users";
import type { PublicUser } from "../accounts/users";
import { identities, passkeys, sessions, users } from "../db/schema";
import type { UserRow } from "../db/schema";
import { base64url, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";

export { deleteAccountOrThrow as deleteUser } from "../deletion";
export { adminResetMfa as resetMfa } from "../mfa";

/** API.md §10: `User` (with `mfaEnabled`) + { disabled, lastSignInAt, sessionCount, hasPassword }. */
export interface AdminUser extends PublicUser {
  disabled: boolean;
  lastSignInAt: string | null;
  sessionCount: number;
  hasPassword: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const live = (now: number) => and(isNull(sessions.revokedAt), or(isNull(sessions.expiresAt), gt(sessions.expiresAt, now)));

function adminUser(row: UserRow, sessionCount: number): AdminUser {
  return {
    ...publicUser(row),
    disabled: row.disabledAt !== null,
    lastSignInAt: iso(row.lastSignInAt),
    sessionCount,
    hasPassword: row.passwordHash !== null,
  };
}

/**
 * The live-session count of the outer query's user, as a column. The names are qualified by hand:
 * drizzle renders `${users.id}` as a bare "id" in a one-table select, which inside this subquery
 * would mean sessions.id (and count nothing).
 */
const sessionCountColumn = (now: number) =>
  sql<number>`(SELECT COUNT(*) FROM ${sessions} WHERE "sessions"."user_id" = "users"."id" AND ${sessions.revokedAt} IS NULL AND (${sessions.expiresAt} IS NULL OR ${sessions.expiresAt} > ${now}))`;

const notFound = () => new AuthError("not_found", "No such user");

/**
 * `column` starts with `prefix`, as a range the column's UNIQUE index serves: `>= prefix` and
 * `< prefix + U+10FFFF` (the largest code point, so every continuation sorts below it in SQLite's
 * binary order of UTF-8). No LIKE: SQLite refuses a LIKE pattern past 50 bytes, and a range has no
 * character to escape.
 */
const startsWith = (column: typeof users.emailNormalized | typeof users.usernameNormalized, prefix: string) =>
  and(gte(column, prefix), lt(column, `${prefix}\u{10FFFF}`));

export interface SearchInput {
  /** An email or username prefix; compared on the normalised (lower-cased) columns. */
  query?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/**
 * Users whose email or username starts with `query` (case-insensitive), in id order, `limit` per
 * page; `nextCursor` (opaque) continues after the last one, null on the last page.
 */
export async function searchUsers(deps: Deps, input: SearchInput): Promise<{ users: AdminUser[]; nextCursor: string | null }> {
  let after: string | null = null;
  if (input.cursor) {
    try {
      after = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64url(input.cursor));
    } catch {
      after = null;
    }
    if (!after || !/^[0-9a-f-]{36}$/.test(after)) throw invalidRequest("cursor", "is not a cursor this service issued");
  }
  const query = input.query ? normalizeEmail(input.query) : "";
  const now = Date.now();
  const rows = await drizzle(deps.env.DB)
    .select({ user: users, sessionCount: sessionCountColumn(now) })
    .from(users)
    .where(
      and(
        query ? or(startsWith(users.emailNormalized, query), startsWith(users.usernameNormalized, query)) : undefined,
        after ? gt(users.id, after) : undefined,
      ),
    )
    .orderBy(asc(users.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    users: page.map((r) => adminUser(r.user, Number(r.sessionCount))),
    nextCursor: rows.length > input.limit && last ? base64url(new TextEncoder().encode(last.user.id)) : null,
  };
}

/** How many of a user's latest activity events (API.md §9) its detail shows, newest first. */
export const DETAIL_ACTIVITY_LIMIT = 20;

/**
 * One user with its live sessions, linked identities, passkeys and latest `DETAIL_ACTIVITY_LIMIT`
 * activity events (newest first; the console's "latest activity"): the user object's list of
 * sessions and its activity (which write what the object owes D1 first), then one D1 batch; 404
 * when unknown.
 */
export async function getUser(deps: Deps, userId: string) {
  const db = drizzle(deps.env.DB);
  // The sessions as the list shows them (the user object's exact last use and expiry: src/sessions/session-list.ts),
  // read first: the object writes what a sign-in started there still owes D1 (src/sessions/outbox.ts) before
  // it lists, so the D1 read after it shows that sign-in's event and `lastSignInAt` too (issue 27, slice 3).
  // The activity from the object too (issue 27, slice 5: src/activity/drain.ts), queued after the list.
  const stub = userSessions(deps, userId);
  const [held, activityRows] = await Promise.all([stub.listSessions({ userId }), stub.readActivity({ userId, limit: DETAIL_ACTIVITY_LIMIT })]);
  const [found, identityRows, passkeyRows] = await db.batch([
    db.select().from(users).where(eq(users.id, userId)),
    db.select().from(identities).where(eq(identities.userId, userId)).orderBy(asc(identities.createdAt)),
    db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt)),
  ]);
  const user = found[0];
  if (!user) throw notFound();
  const sessionRows = (held ?? []).sort((a, b) => a.createdAt - b.createdAt);
  return {
    user: adminUser(user, sessionRows.length),
    sessions: sessionRows.map((s) => ({
      id: s.id,
      createdAt: new Date(s.createdAt).toISOString(),
      lastUsedAt: new Date(s.lastUsedAt).toISOString(),
      expiresAt: iso(s.expiresAt),
      ipAddress: s.ipAddress,
      userAgent: s.userAgent,
    })),
    identities: identityRows.map((i) => ({ id: i.id, provider: i.provider, email: i.email, createdAt: new Date(i.createdAt).toISOString() })),
    passkeys: passkeyRows.map((p) => ({
      id: p.id,
      name: p.name,
      createdAt: new Date(p.createdAt).toISOString(),
      lastUsedAt: iso(p.lastUsedAt),
      backedUp: p.backedUp,
    })),
    activity: (activityRows ?? []).map(activityView),
  };
}

async function liveSessionCount(deps: Deps, userId: string): Promise<number> {
  const [row] = await drizzle(deps.env.DB).select({ n: count() }).from(sessions).where(and(eq(sessions.userId, userId), live(Date.now())));
  return row?.n ?? 0;
}

/**
 * Sets or clears `disabled_at` with its event in one batch (the event only when the state really
 * changed), then, for a disable, ends every session in the user's object. The sign-in guard of that
 * object reads `disabled_at`, so no session can start once the batch committed; the revocation
 * that follows ends those that started before.
 */
async function setDisabled(deps: Deps, userId: string, disabled: boolean): Promise<AdminUser> {
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const changed = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${userId} AND ${users.updatedAt} = ${now} AND ${disabled ? isNotNull(users.disabledAt) : isNull(users.disabledAt)})`;
  const event = userEvent(db, disabled ? "user.disabled" : "user.enabled", userId, { at: now, onlyIf: changed });
  const [, , written, found] = await changeUser(deps, userId, () => db.batch([
    db
      .update(users)
      .set({ disabledAt: disabled ? now : null, updatedAt: now })
      .where(and(eq(users.id, userId), disabled ? isNull(users.disabledAt) : isNotNull(users.disabledAt))),
    activityStatement(db, { userId, type: disabled ? "account_disabled" : "account_enabled", client: null, at: now }, changed),
    event.statement,
    db.select().from(users).where(eq(users.id, userId)),
    // API.md §15: a disable ends every pending mfaToken.
    ...(disabled ? [endChallengesStatement(db, userId)] : []),
  ]));
  if (written.meta.changes === 1) publish(deps, event);
  const user = found[0];
  if (!user) throw notFound();
  if (disabled) await userSessions(deps, userId).revokeSessions({ userId, reason: "disabled" });
  return adminUser(user, disabled ? 0 : await liveSessionCount(deps, userId));
}

export const disableUser = (deps: Deps, userId: string) => setDisabled(deps, userId, true);
export const enableUser = (deps: Deps, userId: string) => setDisabled(deps, userId, false);

/** Ends every session of the user (each recorded as session_revoked); 404 when unknown. */
export async function revokeUserSessions(deps: Deps, userId: string): Promise<void> {
  const user = await drizzle(deps.env.DB).select({ id: users.id }).from(users).where(eq(users.id, userId)).get();
  if (!user) throw notFound();
  await userSessions(deps, userId).revokeSessions({ userId, reason: "admin" });
}
