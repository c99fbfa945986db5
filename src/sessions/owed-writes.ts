/**
 * The marker of a user object's flush that failed (src/sessions/outbox.ts: D1 out of reach; the
 * sign-in's writes stay owed and the object's alarm retries them). A module of its own, with no
 * imports: the HTTP layer (src/http/errors.ts `owedWritesError`, which answers it with a 503) and the
 * SDK's type build read it without the Workers types the outbox needs.
 *
 * @example
 * throw new Error(`${OWED_WRITES_UNAVAILABLE}: ${d1Message}`);
 */

/** The start of the message of a flush that failed. */
export const OWED_WRITES_UNAVAILABLE = "OWED_WRITES_UNAVAILABLE";
