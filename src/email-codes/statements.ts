/**
 * The email-codes folder's statements for other folders' batches (src/email-codes owns `email_codes`).
 *
 * @example
 * import { dropCodeStatement } from "../email-codes/statements";
 * await db.batch([dropCodeStatement(db, "ada@example.com", guard), markVerified]);
 */
import { and, eq } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { emailCodes } from "./schema";

/** Deletes the pending code of an address (normalised), only while `onlyIf` holds when the batch runs. */
export function dropCodeStatement(db: DrizzleD1Database, emailNormalized: string, onlyIf: SQL) {
  return db.delete(emailCodes).where(and(eq(emailCodes.emailNormalized, emailNormalized), onlyIf));
}
