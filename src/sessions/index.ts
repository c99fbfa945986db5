/**
 * Sessions as the caller sees them (API.md §1, §3): authenticating a bearer token (signature,
 * claims, and the session still live, in one D1 read), refreshing, revoking, listing and deleting.
 * Token state changes go through the user's Durable Object (src/sessions/user-object.ts); reads come from
 * D1, the store of record, which that object updates before it answers.
 *
 * @example
 * import { authenticate, refresh } from "./index";
 * const auth = await authenticate(deps, request.headers.get("authorization"));
 * const pair = await refresh(deps, body.refreshToken);
 */
import { drizzle } from "drizzle-orm/d1";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError, invalidToken } from "../http/errors";
import { parseRefreshToken } from "./refresh-token";
import { liveSessionRow } from "./liveness";
import { liveSessionOwners } from "./owner";
import { settle } from "./settle";
import type { UserRow } from "../db/schema";
import { bearerToken, verifyAccessToken } from "../tokens";
import type { AccessClaims } from "../tokens";
import type { IssuedPair } from "./user-object";

export { signIn } from "./issue";
export type { SignInInput } from "./issue";

export interface Auth extends AccessClaims {
  user: UserRow;
}

/**
 * Verifies the bearer token and that its session is still live: one D1 read that also returns the
 * user. `allowExpired` serves document 000's refresh only.
 */
export async function authenticateToken(deps: Deps, token: string, options: { allowExpired?: boolean } = {}): Promise<Auth> {
  const claims = await verifyAccessToken(deps.config, token, options);
  const read = () => liveSessionRow(deps.env.DB, { sessionId: claims.sessionId, userId: claims.userId, now: Date.now() });
  let row = await read();
  // A session started in the user's object moments ago may not be in D1 yet (src/sessions/settle.ts).
  if (!row && (await settle(deps, claims.userId))) row = await read();
  if (!row) throw invalidToken("The session has ended");
  return { ...claims, user: row.user };
}

export async function authenticate(deps: Deps, authorization: string | null | undefined): Promise<Auth> {
  return authenticateToken(deps, requireBearer(authorization));
}

/**
 * Verifies the bearer token's signature and claims only, with no D1 read: for routes whose own D1
 * read checks the session's liveness in the same round trip (`listSessions`, src/activity/list.ts).
 * 401 `invalid_token` as `authenticate`.
 */
export async function verifyBearer(deps: Deps, authorization: string | null | undefined): Promise<AccessClaims> {
  return verifyAccessToken(deps.config, requireBearer(authorization));
}

/** The bearer token of an Authorization header; 401 `invalid_token` when there is none (RFC 6750). */
export function requireBearer(authorization: string | null | undefined): string {
  const token = bearerToken(authorization);
  if (!token) throw invalidToken("A bearer access token is required");
  return token;
}

export async function refresh(deps: Deps, refreshToken: string): Promise<IssuedPair> {
  const parsed = parseRefreshToken(refreshToken);
  if (!parsed) throw invalidToken("The refresh token is invalid or expired");
  let outcome;
  try {
    outcome = await userSessions(deps, parsed.userId).refresh({ token: refreshToken, ...deps.client });
  } catch {
    // Nothing was committed (the object writes D1 first): the same token can be retried.
    throw new AuthError("unavailable", "The refresh could not be completed; retry with the same token", undefined, 1);
  }
  if (!outcome.ok) throw invalidToken("The refresh token is invalid or expired");
  return outcome.pair;
}

/**
 * Document 000's refresh: the access token (expired or not, but validly signed) must belong to the
 * same session as the refresh token.
 */
export async function refreshWithAccessToken(deps: Deps, accessToken: string, refreshToken: string): Promise<IssuedPair> {
  const claims = await verifyAccessToken(deps.config, accessToken, { allowExpired: true });
  const parsed = parseRefreshToken(refreshToken);
  if (!parsed || parsed.sessionId !== claims.sessionId || parsed.userId !== claims.userId) {
    throw invalidToken("The tokens do not belong to the same session");
  }
  return refresh(deps, refreshToken);
}

/**
 * Ends the session of a refresh token. Unknown or already revoked tokens are not an error. With
 * `owner` (document 000's signout, which sends the access token too) the activity records a
 * `sign_out`; the token revocation of /v1/auth/revoke records `session_revoked` (docs/sessions.md).
 */
export async function revoke(deps: Deps, refreshToken: string, owner?: Auth): Promise<void> {
  const parsed = parseRefreshToken(refreshToken);
  if (!parsed) return;
  if (owner && parsed.userId !== owner.userId) throw new AuthError("forbidden", "The refresh token is not yours");
  await userSessions(deps, parsed.userId).revokeToken(refreshToken, deps.client, owner ? "signout" : "revoked");
}

export async function revokeAll(deps: Deps, auth: Auth): Promise<void> {
  await userSessions(deps, auth.userId).revokeSessions({ userId: auth.userId, reason: "revoke_all", client: deps.client });
}

/** Ends the given sessions of the caller, or the current one when none are named. */
export async function signOutSessions(deps: Deps, auth: Auth, sessionIds?: string[]): Promise<void> {
  // Like DELETE /auth/{sessionId}/sessions: a list that names only other users' live sessions is
  // a 403; in a mixed list the caller's own end and the others are left alone (docs/sessions.md).
  if (sessionIds?.length) {
    const owners = [...(await liveSessionOwners(drizzle(deps.env.DB), sessionIds, Date.now())).values()];
    if (owners.length > 0 && owners.every((userId) => userId !== auth.userId)) throw new AuthError("forbidden", "The sessions are not yours");
  }
  await userSessions(deps, auth.userId).revokeSessions({ userId: auth.userId, sessionIds: sessionIds ?? [auth.sessionId], reason: "signout", client: deps.client });
}

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  current: boolean;
}

/**
 * The caller's live sessions, most recently used first, from the user's object
 * (src/sessions/session-list.ts: no D1 trip when its store is complete, else one D1 read), which is
 * also the liveness check: the caller's own session must be among them (and the account not
 * disabled), else 401 `invalid_token`, as `authenticate` would answer. 403 for another user's id
 * (document 001's door).
 */
export async function listSessions(deps: Deps, claims: AccessClaims, userId = claims.userId): Promise<SessionView[]> {
  const views = await userSessions(deps, claims.userId).listSessions({ userId: claims.userId, current: claims.sessionId });
  if (!views) throw invalidToken("The session has ended");
  if (userId !== claims.userId) throw new AuthError("forbidden", "You may only list your own sessions");
  return views.map((s) => ({
    id: s.id,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.lastUsedAt).toISOString(),
    expiresAt: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
    ipAddress: s.ipAddress,
    userAgent: s.userAgent,
    current: s.id === claims.sessionId,
  }));
}

/** 404 when no live session has this id, 403 when it is someone else's. */
export async function deleteSession(deps: Deps, auth: Auth, sessionId: string): Promise<void> {
  const read = async () => (await liveSessionOwners(drizzle(deps.env.DB), [sessionId], Date.now())).get(sessionId);
  let owner = await read();
  if (!owner && (await settle(deps, auth.userId))) owner = await read();
  if (!owner) throw new AuthError("not_found", "No such session");
  if (owner !== auth.userId) throw new AuthError("forbidden", "The session is not yours");
  // D1 may still count a held session live past its own expiry (src/sessions/vouch.ts): the object decides.
  const ended = await userSessions(deps, auth.userId).revokeSessions({ userId: auth.userId, sessionIds: [sessionId], reason: "deleted", client: deps.client });
  if (ended.length === 0) throw new AuthError("not_found", "No such session");
}
