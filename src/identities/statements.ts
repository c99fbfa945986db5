/**
 * The identities folder's statements for other folders' batches (src/identities owns `identities`).
 *
 * @example
 * import { dropIdentitiesStatement } from "../identities/statements";
 * await db.batch([dropIdentitiesStatement(db, userId, guard), markVerified]);
 */
import { and, eq, ne } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { identities } from "./schema";

/**
 * Unlinks every identity of `userId` but `keep` (an identity id), only while `onlyIf` holds when
 * the batch runs (the address just proven by its owner: src/accounts/address-proven.ts).
 */
export function dropIdentitiesStatement(db: DrizzleD1Database, userId: string, onlyIf: SQL, keep?: string) {
  return db.delete(identities).where(and(eq(identities.userId, userId), keep === undefined ? undefined : ne(identities.id, keep), onlyIf));
}
