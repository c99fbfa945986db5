/**
 * The daily clean-up's statements for the web flow's tables: sign-ins never finished (their state
 * lives 10 minutes) and one-time codes never exchanged (60 seconds).
 *
 * @example
 * await db.batch([...purgeSignInStatesStatements(db, Date.now())]);
 */
import { lt } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { oauthCodes, oauthStates } from "./schema";

/** Deletes states and codes that expired before `now` (ms since the epoch). */
export function purgeSignInStatesStatements(db: DrizzleD1Database, now: number) {
  return [db.delete(oauthStates).where(lt(oauthStates.expiresAt, now)), db.delete(oauthCodes).where(lt(oauthCodes.expiresAt, now))] as const;
}
