/**
 * How the client refreshes without stepping on itself or on other tabs: the Web Locks API
 * (`navigator.locks`, where the platform has it) lets one tab at a time rotate the refresh token
 * they share; a tab that waited gives the other tab's write time to reach it. Also which failures
 * say nothing about the session (kept, retried later), the backoff between failed refreshes, and
 * how fresh an access token is when an app's 401 for it is returned as is.
 *
 * @example
 * import { nextBackoffMs, underRefreshLock } from "./refresh";
 * const session = await underRefreshLock("edge-auth:refresh:…", (waited) => rotate(seen, waited));
 * backoffMs = nextBackoffMs(error, backoffMs); // Retry-After, else doubled, from 1 s up to 60 s
 */
import { EdgeAuthError } from "./errors";

interface NavigatorLocks {
  request<T>(name: string, callback: (lock: unknown) => Promise<T>): Promise<T>;
  request<T>(name: string, options: { ifAvailable: true }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

/**
 * How long a tab that waited for another tab's refresh lets that tab's new pair reach its own
 * localStorage (Chromium propagates writes between tabs' processes asynchronously) before it
 * concludes nobody refreshed. Milliseconds.
 */
export const PROPAGATION_MS = 150;

/**
 * An app's 401 for an access token the client obtained less than this long ago is returned as is
 * (issue 26): a token that new is refused for the app's own reasons (its verifier's issuer,
 * audience or clock, or its routes answering 401), which a refresh cannot change; refreshing on
 * every such answer would only spend the refresh limit. Milliseconds.
 */
export const FRESH_TOKEN_MS = 30_000;

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers that say nothing about the session: retry later, keep it. */
export const transient = (error: unknown) => error instanceof EdgeAuthError && (error.status === 0 || error.status === 429 || error.status >= 500);

/**
 * The wait before the next refresh after `error`, in ms: the service's Retry-After when it sent
 * one, else `previousMs` doubled, at least 1 s and at most 60 s.
 */
export function nextBackoffMs(error: unknown, previousMs: number): number {
  const retryAfter = error instanceof EdgeAuthError ? error.retryAfter : undefined;
  return retryAfter !== undefined ? retryAfter * 1000 : Math.min(Math.max(previousMs * 2, 1000), 60_000);
}

/**
 * Runs `run` under the cross-tab lock `name` when the platform has `navigator.locks`, else at once.
 * The lock is asked for first without waiting: when another tab holds it, that tab is refreshing
 * right now, so this one waits for it and then runs with `waited` true.
 */
export async function underRefreshLock<T>(name: string, run: (waited: boolean) => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: NavigatorLocks } }).navigator?.locks;
  if (!locks) return run(false);
  const ran = await locks.request(name, { ifAvailable: true }, async (lock) => (lock ? { value: await run(false) } : null));
  return ran ? ran.value : locks.request(name, () => run(true));
}
