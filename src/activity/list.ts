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
import { base64url, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { invalidRequest, invalidToken } from "../http/errors";
import type { LoggedEvent } from "./object-log";

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
 * come from a verified access token. The user's object answers (src/activity/drain.ts): it reads the
 * session's liveness and the events staged in D1 in one D1 batch (one round trip), keeps those, and
 * pages its own; a session that is not live gets 401 `invalid_token`.
 */
export async function listActivity(
  deps: Deps,
  claims: { userId: string; sessionId: string },
  input: { limit: number; before?: string | undefined },
): Promise<ActivityPage> {
  const cursor = input.before ? decodeCursor(input.before) : null;
  const rows = await userSessions(deps, claims.userId).readActivity({
    userId: claims.userId,
    sessionId: claims.sessionId,
    limit: input.limit + 1,
    ...(cursor ? { before: cursor } : {}),
  });
  if (rows === null) throw invalidToken("The session has ended");
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    events: page.map(activityView),
    nextCursor: rows.length > input.limit && last ? encodeCursor(last.created_at, last.id) : null,
  };
}

/** One kept event as API.md §9 shows it (`method` on sign-in events only). */
export function activityView(row: LoggedEvent): ActivityView {
  return {
    id: row.id,
    type: row.type,
    createdAt: new Date(row.created_at).toISOString(),
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    sessionId: row.session_id,
    ...(row.method ? { method: row.method } : {}),
  };
}
