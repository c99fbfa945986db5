/**
 * The daily clean-up's statement for `email_codes`: codes past their lifetime, which verify
 * refuses anyway.
 *
 * @example
 * await purgeEmailCodesStatement(db, Date.now());
 */
import { lt } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { emailCodes } from "./schema";

/** Deletes codes that expired before `now` (ms since the epoch). */
export function purgeEmailCodesStatement(db: DrizzleD1Database, now: number) {
  return db.delete(emailCodes).where(lt(emailCodes.expiresAt, now));
}
