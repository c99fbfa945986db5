/**
 * The client's public types (API.md §14): what it stores, the session it exposes, its options and
 * its methods (the route table's, generated, plus the session-keeping ones).
 *
 * @example
 * import type { Client, Session } from "./types";
 * const show = (session: Session | null) => session?.user?.email ?? "signed out";
 */
import type { Methods, Route, User, routes } from "./routes";
import type { TokenStorage } from "./storage";

/** What the storage holds (tokens only: no profile; mobile secure stores are small). */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number;
  sessionId: string;
}

/** The current session. `user` is null after a reload until the next refresh or `me()`. */
export interface Session extends StoredTokens {
  user: User | null;
  /** The session's assurance level (API.md §15), from its access token: "aal2" after a second factor or a passkey. */
  aal: "aal1" | "aal2";
}

export interface ClientOptions {
  /** The service's origin, e.g. "https://auth.example.com" (routes are under /v1/auth). */
  baseUrl: string;
  /** Where the tokens live; `memoryStorage()` when left out. */
  storage?: TokenStorage;
  /** The fetch to use (a test's wrapper, an instrumented fetch); globalThis.fetch by default. */
  fetch?: (input: Request | string | URL, init?: RequestInit) => Promise<Response>;
  /** Refresh when the access token expires within this many seconds. Default 60. */
  refreshLeewaySeconds?: number;
  /** The storage key (and the cross-tab lock's name). Default "edge-auth:session". */
  storageKey?: string;
}

export type Client = Methods<typeof routes> & {
  oauth: {
    /**
     * The URL to send the browser to for the web sign-in (API.md §13): GET
     * /v1/auth/oauth/:provider/authorize. `redirectUri` must be on the service's REDIRECT_ORIGINS;
     * it gets `?code=…&state=…` back, for `oauth.exchange({ code })`. Builds the URL only.
     */
    authorizeUrl(provider: string, options: { redirectUri: string; state?: string }): string;
  };
  /** Resolves once the stored session (if any) has been read. */
  readonly ready: Promise<void>;
  /** The current session or null (read `ready` first after a reload). */
  readonly session: Session | null;
  /** Calls `listener` on every change of the session (sign-in, refresh, sign-out, another tab); returns an unsubscribe. */
  onChange(listener: (session: Session | null) => void): () => void;
  /** A valid access token, refreshed first when it expires within the leeway. Throws EdgeAuthError when signed out. */
  getAccessToken(): Promise<string>;
  /** Rotates the refresh token now (shared by concurrent callers and, with navigator.locks, by tabs). */
  refresh(): Promise<Session>;
  /** Ends the session at the service (revoke) and always locally; true when the service confirmed. */
  logout(): Promise<boolean>;
  /** Ends every session of the user (revoke-all), then this one locally. */
  logoutAll(): Promise<void>;
  /**
   * fetch() with the Bearer token; after a 401 invalid_token it refreshes once and retries, unless
   * the token was obtained within the last 30 s: then the app's 401 is returned as is.
   */
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
  /** Calls any route of the table shape (for routes this version does not list yet). */
  call<I, O>(route: Route<I, O>, input?: I): Promise<O>;
};
