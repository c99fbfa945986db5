/**
 * A session as the client exposes it (API.md §14), built from what the service answered: a new
 * TokenPair becomes a `Session`, and the access token's assurance level (`aal`, API.md §15) is read
 * from its payload, unverified (the client only shows it; services verify).
 *
 * @example
 * import { aalOf, sessionOf } from "./session";
 * const session = sessionOf(pair); // expiresAt: now + expiresIn seconds, in ms since the epoch
 * aalOf(session.accessToken); // "aal2" after a second factor or a passkey, else "aal1"
 */
import type { TokenPair } from "./routes";
import type { Session } from "./types";

/**
 * The `aal` claim of an access token (API.md §15), read without verifying (the client only shows
 * it; services verify). "aal1" when absent or unreadable.
 */
export function aalOf(accessToken: string): "aal1" | "aal2" {
  try {
    const part = accessToken.split(".")[1] ?? "";
    const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    return (JSON.parse(atob(padded)) as { aal?: unknown }).aal === "aal2" ? "aal2" : "aal1";
  } catch {
    return "aal1";
  }
}

/** A TokenPair just received, as the Session: `expiresAt` is now plus `expiresIn` (ms since the epoch). */
export function sessionOf(pair: TokenPair): Session {
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    expiresAt: Date.now() + pair.expiresIn * 1000,
    sessionId: pair.sessionId,
    user: pair.user,
    aal: aalOf(pair.accessToken),
  };
}
