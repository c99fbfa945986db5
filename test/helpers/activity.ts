/**
 * A user's activity wherever it is kept (issue 27, slice 5): the rows staged in D1's `activity` and
 * those the user's object keeps (src/activity/object-log.ts), each once, oldest first. Tests read
 * events through this, not through one of the two places.
 */
import { env } from "cloudflare:workers";
import { inUserSessions } from "./accounts";

/** One event as the tests read it (times ms). */
export interface ActivityRecord {
  id: string;
  type: string;
  method: string | null;
  session_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  created_at: number;
  /** Where it is: "d1" (staged), "object", or "both" (kept and not yet deleted from D1). */
  place: "d1" | "object" | "both";
}

const COLUMNS = "id, type, method, session_id, ip_address, user_agent, created_at";

/** Every event of `userId`, oldest first, `type` only when given. */
export async function activityOf(userId: string, type?: string): Promise<ActivityRecord[]> {
  const staged = (await env.DB.prepare(`SELECT ${COLUMNS} FROM activity WHERE user_id = ?`).bind(userId).all<Omit<ActivityRecord, "place">>()).results;
  const kept = await inUserSessions(userId, (sql) => {
    const table = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'activity'").toArray();
    return table.length > 0 ? sql.exec(`SELECT ${COLUMNS} FROM activity`).toArray().map((r) => ({ ...r }) as unknown as Omit<ActivityRecord, "place">) : [];
  });
  const all = new Map<string, ActivityRecord>();
  for (const row of staged) all.set(row.id, { ...row, place: "d1" });
  for (const row of kept) all.set(row.id, { ...row, place: all.has(row.id) ? "both" : "object" });
  return [...all.values()].filter((r) => type === undefined || r.type === type).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
}

/** How many events of `userId` (of `type`, and `method` when given) there are. */
export async function countActivity(userId: string, type?: string, method?: string): Promise<number> {
  return (await activityOf(userId, type)).filter((r) => method === undefined || r.method === method).length;
}
