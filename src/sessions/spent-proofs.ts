/**
 * Single-use proofs spent in the user's Durable Object (issue 27, slice 6): a sign-in by email code
 * whose session starts in the object records the code there, in the transaction that starts the
 * session, and the code's D1 row is deleted by the object's outbox after the answer
 * (src/sessions/outbox.ts). Until then the row is still in D1, so every later use of the same proof
 * must meet this record first: a sign-in started in the object checks it in the same synchronous
 * step that records its own (src/sessions/session-start.ts), and a sign-in on the D1 path records
 * the proof here before its D1 batch (`beginChange`, src/sessions/user-object.ts), refusing when it
 * was recorded already. Whoever records first spends it.
 *
 * Table `spent_proofs` (token-store migration v5): `key` (the proof's name: `email-code:<code hash>`,
 * an HMAC under a server key, never the code) and `expires_at` (ms: when the proof would be refused
 * anyway), pruned at every record.
 *
 * @example
 * if (isSpent(sql, key, now)) return { ok: false, spent: true };
 * markSpent(sql, { key, expiresAt }, now);
 */

/** The table, for TOKEN_STORE_MIGRATIONS (src/sessions/token-store-schema.ts). */
export const SPENT_PROOFS_SCHEMA = "CREATE TABLE IF NOT EXISTS spent_proofs (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)";

/** A proof a sign-in spends: its name and when it stops being valid anyway (ms since the epoch). */
export interface SpentProof {
  key: string;
  expiresAt: number;
  /**
   * The normalised address the proof was mailed to (an email code): the account must still use it
   * when the proof is spent, or the sign-in is not started in the object (src/sessions/session-start.ts).
   */
  address?: string;
}

/** True when `key` was recorded and has not expired at `now` (ms). */
export function isSpent(sql: SqlStorage, key: string, now: number): boolean {
  return sql.exec("SELECT 1 FROM spent_proofs WHERE key = ? AND expires_at > ?", key, now).toArray().length > 0;
}

/** Records `proof` as spent (call inside the transaction that acts on it), dropping expired records. */
export function markSpent(sql: SqlStorage, proof: SpentProof, now: number): void {
  sql.exec("DELETE FROM spent_proofs WHERE expires_at <= ?", now);
  sql.exec("INSERT OR REPLACE INTO spent_proofs (key, expires_at) VALUES (?, ?)", proof.key, proof.expiresAt);
}
