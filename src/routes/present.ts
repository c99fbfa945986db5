/**
 * Shapes services' results for the canonical API (camelCase). The compatibility routers build
 * their own shapes from these.
 *
 * @example
 * c.json(tokenPair(pair));
 */
import type { IssuedPair } from "../sessions/user-object";
import { publicUser } from "../accounts/users";

export function tokenPair(pair: IssuedPair) {
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    tokenType: "Bearer" as const,
    expiresIn: pair.expiresIn,
    refreshExpiresIn: pair.refreshExpiresIn,
    sessionId: pair.sessionId,
    // A pair sealed before `aal` existed (a repeat inside the reuse window) was aal1.
    aal: pair.aal ?? "aal1",
    user: pair.user,
  };
}

export { publicUser };
