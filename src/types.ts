/**
 * Types shared across folders, in a module that imports nothing, so that sharing a type never ties
 * two folders' modules into an import cycle. The folders that own each concept re-export them
 * (tokens: Role; accounts/users: PublicUser; sessions/user-object: ClientInfo, IssuedPair).
 *
 * @example
 * import type { ClientInfo, IssuedPair } from "../types";
 */

/** An access token's `role` claim: a guest account or a full one. */
export type Role = "guest" | "user";

/** Who is calling, as recorded on sessions and activity; null when unknown. */
export interface ClientInfo {
  ipAddress: string | null;
  userAgent: string | null;
}

/** The public shape of a user (API.md §2): what any answer, pair or sealed value may show. */
export interface PublicUser {
  id: string;
  email: string | null;
  username: string | null;
  isGuest: boolean;
  emailVerified: boolean;
  profilePicture: string | null;
  /** ISO 8601. */
  createdAt: string;
  /** Whether the account has an active second factor (API.md §15). */
  mfaEnabled: boolean;
}

/**
 * A new token pair and the session it belongs to. It crosses RPC (from the user's Durable Object)
 * and is sealed for the reuse window, so `user` holds only the public fields of the account (never
 * its password hash). Durations in seconds; `refreshExpiresIn` is null for guests.
 */
export interface IssuedPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  refreshExpiresIn: number | null;
  sessionId: string;
  role: Role;
  /** The session's assurance level (API.md §15), as its access token says. */
  aal: "aal1" | "aal2";
  user: PublicUser;
}

/** Canonical (camelCase) field name → the name a compatibility door's document uses (src/http/spelling.ts). */
export type Spelling = Readonly<Record<string, string>>;
