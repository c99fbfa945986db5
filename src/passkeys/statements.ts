/**
 * The passkeys folder's statements for other folders' batches (src/passkeys owns `passkeys` and
 * `webauthn_challenges`).
 *
 * @example
 * import { dropPasskeysStatements } from "../passkeys/statements";
 * await db.batch([...dropPasskeysStatements(db, userId, guard), markVerified]);
 */
import { and, eq } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { passkeys, webauthnChallenges } from "./schema";

/**
 * Deletes every passkey of `userId` and its pending registration challenges, only while `onlyIf`
 * holds when the batch runs (the address just proven by its owner: src/accounts/address-proven.ts).
 */
export function dropPasskeysStatements(db: DrizzleD1Database, userId: string, onlyIf: SQL) {
  return [
    db.delete(passkeys).where(and(eq(passkeys.userId, userId), onlyIf)),
    db.delete(webauthnChallenges).where(and(eq(webauthnChallenges.userId, userId), onlyIf)),
  ] as const;
}
