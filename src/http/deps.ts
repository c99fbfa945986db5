/**
 * What every service receives: the bindings, the parsed config, who is calling, and a way to finish
 * work after the answer (mail delivery), so services need no HTTP types.
 *
 * @example
 * import type { Deps } from "./deps";
 * export async function guest(deps: Deps) { ... deps.config.maxSessionsPerUser ... }
 */
import type { Config } from "../config";
import type { ClientInfo } from "../types";

export interface Deps {
  env: Env;
  config: Config;
  client: ClientInfo;
  requestId: string;
  /** Origin of the service as the caller reached it; links prefer config.publicUrl. */
  origin: string;
  waitUntil(promise: Promise<unknown>): void;
}

/** The user's `UserSessions` Durable Object stub (`idFromName(userId)`, src/sessions/user-object.ts); needs only the env. */
export function userSessions(deps: Pick<Deps, "env">, userId: string) {
  return deps.env.USER_SESSIONS.get(deps.env.USER_SESSIONS.idFromName(userId));
}
