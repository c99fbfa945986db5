/**
 * Shapes services' results for the compatibility doors: document 000's snake_case TokenResponse and
 * document 001's envelope. Built from the canonical presenters, so every door shows the same user.
 *
 * @example
 * c.json(tokenResponse(pair), 200);                     // document 000
 * c.json(envelope(200, "Signed in", tokenPair(pair)), 200); // document 001
 */
import type { PublicUser } from "../accounts/users";
import type { UserRow } from "../db/schema";
import type { IssuedPair } from "../sessions/user-object";
import { publicUser } from "./present";

/** Document 000's user, from a user row or its public fields (a pair carries only those). */
export function snakeUser(row: UserRow | PublicUser) {
  const user = "emailNormalized" in row ? publicUser(row) : row;
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    is_guest: user.isGuest,
    email_verified: user.emailVerified,
    profile_picture: user.profilePicture,
    created_at: user.createdAt,
  };
}

export function tokenResponse(pair: IssuedPair) {
  return {
    access_token: pair.accessToken,
    token_type: "Bearer" as const,
    expires_in: pair.expiresIn,
    refresh_token: pair.refreshToken,
    user: snakeUser(pair.user),
  };
}

export function envelope(statusCode: number, message: string): { statusCode: number; message: string };
export function envelope<T>(statusCode: number, message: string, data: T): { statusCode: number; message: string; data: T };
export function envelope<T>(statusCode: number, message: string, data?: T) {
  return data === undefined ? { statusCode, message } : { statusCode, message, data };
}
