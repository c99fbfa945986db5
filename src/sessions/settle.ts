/**
 * For D1 readers of a user's sessions that found nothing (issue 27, slice 3): a session the user's
 * object started moments ago (src/sessions/session-start.ts) reaches D1 just after its sign-in
 * answered (src/sessions/outbox.ts). A reader that misses one asks the object to write what it owes
 * and reads again; a session that truly ended costs that one object call more.
 *
 * @example
 * let row = await read();
 * if (!row && (await settle(deps, userId))) row = await read();
 */
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";

/** Asks the user's object to write what it owes D1; true when it owed something (read again then). */
export function settle(deps: Pick<Deps, "env">, userId: string): Promise<boolean> {
  return userSessions(deps, userId).settle();
}
