/**
 * The liveness check with no D1 trip when warm (issue 27, slice 1): verifies the access token, then
 * asks the user's Durable Object (src/sessions/profile-object.ts `check`), which answers from its
 * cache or, cold, from today's one D1 read. Used by `GET /v1/auth/me` and `AuthRpc.verifySession`;
 * every other authenticated route keeps `authenticate` (src/sessions/index.ts: one D1 read that
 * returns the whole user row, which writers need). Both see every revocation at once (API.md §1).
 *
 * @example
 * const session = await checkSession(deps, token); // 401 invalid_token when refused
 * session.user.email; session.role; session.sessionId;
 */
import { userSessions } from "../http/deps";
import type { Deps } from "../http/deps";
import { invalidToken } from "../http/errors";
import { verifyAccessToken } from "../tokens";
import type { AccessClaims } from "../tokens";
import type { PublicUser } from "../types";

/** A verified access token's claims and its owner's public fields (API.md §2), the session live. */
export interface CheckedSession extends AccessClaims {
  user: PublicUser;
}

/**
 * Verifies `token` (signature and claims, as `authenticateToken`) and that its session is live and
 * its account enabled. Throws 401 `invalid_token` when not; object or D1 failures propagate.
 */
export async function checkSession(deps: Deps, token: string): Promise<CheckedSession> {
  const claims = await verifyAccessToken(deps.config, token);
  const user = await userSessions(deps, claims.userId).check({ userId: claims.userId, sessionId: claims.sessionId });
  if (!user) throw invalidToken("The session has ended");
  return { ...claims, user };
}
