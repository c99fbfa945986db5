/**
 * The token pair a sign-in or a rotation answers with (API.md §2 TokenPair): a new access token
 * signed for the session, the refresh token given, and the account's public fields. One shape for
 * the sign-in batch (src/sessions/issue.ts) and the user's object (src/sessions/user-object.ts).
 *
 * @example
 * const pair = await tokenPair(config, { userId, sessionId, role, expiresAt, assurance }, refreshToken, publicUser(userRow), Date.now());
 */
import type { Config } from "../config";
import { signAccessToken } from "../tokens";
import type { Assurance } from "../tokens";
import type { IssuedPair, PublicUser, Role } from "../types";
import { secondsLeft } from "./expiry";

/**
 * `expiresAt` and `now` in ms; `refreshExpiresIn` is null when the refresh token never expires. The
 * access token carries `assurance` (API.md §15) as `aal`, `amr` and `auth_time`.
 */
export async function tokenPair(
  config: Config,
  session: { userId: string; sessionId: string; role: Role; expiresAt: number | null; assurance: Assurance },
  refreshToken: string,
  user: PublicUser,
  now: number,
): Promise<IssuedPair> {
  const { userId, sessionId, role, assurance } = session;
  const access = await signAccessToken(config, { userId, sessionId, role, assurance });
  return {
    accessToken: access.token,
    refreshToken,
    expiresIn: access.expiresIn,
    refreshExpiresIn: secondsLeft(session.expiresAt, now),
    sessionId,
    role,
    aal: assurance.aal,
    user,
  };
}
