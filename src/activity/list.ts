/**
 * Reading a user's security activity (API.md §9, `GET /v1/auth/activity`): newest first, by an
 * opaque cursor over (created_at, id), so pages never skip or repeat an event even when many share
 * a millisecond. `method` is added to sign-in events (docs/sessions.md).
 *
 * @example
 * import { listActivity } from "./list";
 * const page = await listActivity(deps, userId, { limit: 50 });
 * const next = page.nextCursor ? await listActivity(deps, userId, { limit: 50, before: page.nextCursor }) : null;
 */
import { and, desc, eq, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { base64url, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { invalidRequest, invalidToken } from "../http/errors";
import { livenessStatement } from "../sessions/statements";
import { settle } from "../sessions/settle";
import { activity } from "./schema";
import type { ActivityRow } from "./schema";

export interface ActivityView {
  id: string;
  type: string;
  createdAt: string;
  ipAddress: string | null;
  userAgent: string | null;
  sessionId: string | null;
  /** Only on sign_in and sign_in_failed. */
  method?: string;
}

export interface ActivityPage {
  events: ActivityView[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

const encoder = new TextEncoder();

export function encodeCursor(createdAt: number, id: string): string {
  return base64url(encoder.encode(`${createdAt}:${id}`));
}

/** The (createdAt, id) a cursor names; 400 `invalid_request` (field `before`) when malformed. */
export function decodeCursor(cursor: string, field = "before"): { createdAt: number; id: string } {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64url(cursor));
  } catch {
    text = "";
  }
  const match = /^(\d{1,15}):([\w-]{1,64})$/.exec(text);
  if (!match) throw invalidRequest(field, "is not a cursor this service issued");
  return { createdAt: Number(match[1]), id: match[2]! };
}

/**
 * One page of the caller's events, `limit` (1–100) at most, older than `before` when given. `claims`
 * come from a verified access token; the session's liveness is read in the same D1 batch as the page
 * (one round trip), and a session that is not live gets 401 `invalid_token`.
 */
export async function listActivity(
  deps: Deps,
  claims: { userId: string; sessionId: string },
  input: { limit: number; before?: string | undefined },
): Promise<ActivityPage> {
  const cursor = input.before ? decodeCursor(input.before) : null;
  const userId = claims.userId;
  const db = drizzle(deps.env.DB);
  const read = () =>
    db.batch([
    livenessStatement(db, claims, Date.now()),
    db
      .select()
      .from(activity)
      .where(
        and(
          eq(activity.userId, userId),
          cursor
            ? or(lt(activity.createdAt, cursor.createdAt), and(eq(activity.createdAt, cursor.createdAt), lt(activity.id, cursor.id)))
            : undefined,
        ),
      )
      .orderBy(desc(activity.createdAt), desc(activity.id))
      .limit(input.limit + 1),
  ]);
  let [live, rows] = await read();
  // A session started in the user's object moments ago may not be in D1 yet (src/sessions/settle.ts).
  if (live.length === 0 && (await settle(deps, userId))) [live, rows] = await read();
  if (live.length === 0) throw invalidToken("The session has ended");
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    events: page.map(activityView),
    nextCursor: rows.length > input.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

/** One stored event as API.md §9 shows it (`method` on sign-in events only). */
export function activityView(row: ActivityRow): ActivityView {
  return {
    id: row.id,
    type: row.type,
    createdAt: new Date(row.createdAt).toISOString(),
    ipAddress: row.ipAddress,
    userAgent: row.userAgent,
    sessionId: row.sessionId,
    ...(row.method ? { method: row.method } : {}),
  };
}

/**
 * The SELECT of a user's `limit` latest events, newest first (map the rows with `activityView`),
 * for a caller's D1 batch: the admin API's user detail (API.md §10) reads it beside the user.
 */
export function latestActivityStatement(db: DrizzleD1Database, userId: string, limit: number) {
  return db.select().from(activity).where(eq(activity.userId, userId)).orderBy(desc(activity.createdAt), desc(activity.id)).limit(limit);
}
