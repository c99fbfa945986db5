/**
 * `edge-auth/client` (API.md §14): a typed client for every `/v1/auth` route that keeps the session,
 * refreshes it single-flight (across tabs too, with `navigator.locks` and storage events) and adds
 * the Bearer token to the app's own requests. No Node-only API: browsers, React Native, Node ≥ 20,
 * Workers. This entry file keeps the session's state; its parts: the route table (routes.ts), the
 * requests (request.ts), the refresh's cross-tab lock and backoff (refresh.ts), the session built
 * from a pair (session.ts), the token storage (storage.ts) and the errors (errors.ts).
 *
 * @example
 * import { createClient, localStorageAdapter } from "edge-auth/client";
 * const auth = createClient({ baseUrl: "https://auth.example.com", storage: localStorageAdapter() });
 * await auth.login({ email: "ada@example.com", password: "…" });
 * const response = await auth.fetch("https://api.example.com/notes"); // Bearer added, refreshed when due
 * auth.onChange((session) => render(session?.user ?? null));
 */
import { EdgeAuthError, errorFrom, saysInvalidToken } from "./errors";
import { FRESH_TOKEN_MS, PROPAGATION_MS, nextBackoffMs, sleep, transient, underRefreshLock } from "./refresh";
import { methods, readAnswer, requestOf, sender } from "./request";
import { routes } from "./routes";
import type { Route, TokenPair, User } from "./routes";
import { aalOf, sessionOf } from "./session";
import { memoryStorage, parseStored, storeTokens } from "./storage";
import type { Client, ClientOptions, Session, StoredTokens } from "./types";

export { EdgeAuthError } from "./errors";
export type { ErrorCode, FieldIssue } from "./errors";
export { localStorageAdapter, memoryStorage } from "./storage";
export type { TokenStorage } from "./storage";
export { routes } from "./routes";
export type {
  ActivityEvent, ActivityPage, ActivityQuery, Identity, In, Out, Passkey, PasskeyOptions, RegisterResult, Route, SessionInfo, TokenPair, User,
} from "./routes";
export type { Client, ClientOptions, Session, StoredTokens } from "./types";

const notSignedIn = () => new EdgeAuthError(401, "invalid_token", "Not signed in");

/** Creates a client; see ClientOptions. Nothing is sent until a method is called. */
export function createClient(options: ClientOptions): Client {
  const base = `${options.baseUrl.replace(/\/+$/, "")}/v1/auth`;
  const storage = options.storage ?? memoryStorage();
  const key = options.storageKey ?? "edge-auth:session";
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const leewayMs = (options.refreshLeewaySeconds ?? 60) * 1000;
  const listeners = new Set<(session: Session | null) => void>();
  let current: Session | null = null;
  let inflight: Promise<Session> | null = null;
  /** No refresh is sent before this instant (Retry-After, or backoff after a failure). */
  let retryAt = 0;
  let backoffMs = 0;
  /** Counts sign-outs (here or in another tab): a refresh that outlived one must not revive the session. */
  let signOuts = 0;
  /** The access token this client obtained last (sign-in, refresh, another tab's rotation), and when. */
  let obtained = { token: "", at: 0 };

  const emit = () => {
    for (const listener of listeners) {
      try {
        listener(current);
      } catch {
        // one listener's failure must not stop the others
      }
    }
  };

  /** Same session (a rotation keeps its id): keep the profile we already know. */
  const withUser = (tokens: StoredTokens): Session => ({
    ...tokens,
    user: current && current.sessionId === tokens.sessionId ? current.user : null,
    aal: aalOf(tokens.accessToken),
  });

  async function setSession(next: Session | null, persist: boolean): Promise<void> {
    if (!next && current) signOuts += 1;
    current = next;
    if (persist) await storeTokens(storage, key, next);
    emit();
  }

  const adopt = async (pair: TokenPair): Promise<Session> => {
    obtained = { token: pair.accessToken, at: Date.now() };
    const session = sessionOf(pair);
    await setSession(session, true);
    return session;
  };

  const ready = (async () => {
    try {
      const stored = parseStored(await storage.get(key));
      if (stored && !current) current = withUser(stored);
    } catch {
      // unreadable store: signed out
    }
  })();

  // Another tab refreshed (the new pair) or signed out (null).
  storage.subscribe?.(key, (value) => {
    const stored = parseStored(value);
    if (stored?.refreshToken === current?.refreshToken) return;
    if (!stored) signOuts += 1;
    current = stored ? withUser(stored) : null;
    emit();
  });

  const post = sender(send, base);

  function backoff(error: unknown): void {
    backoffMs = nextBackoffMs(error, backoffMs);
    retryAt = Date.now() + backoffMs;
  }

  /**
   * Runs under the cross-tab lock: another tab may have rotated `seen` while we waited (`waited`);
   * its write may then still be on its way to this tab's storage, so look again once before
   * rotating the same token a second time.
   */
  async function rotate(seen: string, waited = false): Promise<Session> {
    const before = signOuts;
    let stored = parseStored(await storage.get(key));
    if (waited && stored?.refreshToken === seen) {
      await sleep(PROPAGATION_MS);
      stored = parseStored(await storage.get(key));
    }
    if (!stored) {
      if (current) await setSession(null, false);
      throw notSignedIn();
    }
    if (stored.refreshToken !== seen) {
      // Another tab rotated it just now.
      obtained = { token: stored.accessToken, at: Date.now() };
      const session = withUser(stored);
      if (current?.refreshToken !== stored.refreshToken) await setSession(session, false);
      return session;
    }
    const response = await post("POST", "/refresh", { refreshToken: seen }).catch((error: unknown) => {
      backoff(error);
      throw error;
    });
    if (response.ok) {
      retryAt = 0;
      backoffMs = 0;
      const pair = (await response.json()) as TokenPair;
      if (signOuts !== before) {
        // Signed out while the refresh was under way: end the pair it brought instead of keeping it.
        void post("POST", "/revoke", { refreshToken: pair.refreshToken }).catch(() => undefined);
        throw notSignedIn();
      }
      return adopt(pair);
    }
    const error = await errorFrom(response);
    if (response.status === 401) {
      // The only definitive answer: this session is over.
      await setSession(null, true);
    } else {
      backoff(error);
    }
    throw error;
  }

  /**
   * `due` is the refresh token the caller found due (or rejected). Another tab's new pair can land
   * in `current` (a storage event) while the caller awaited: reading `current` here would then
   * rotate that fresh pair a second time.
   */
  async function refreshNow(due?: string): Promise<Session> {
    await ready;
    const seen = due ?? current?.refreshToken;
    if (!seen) throw notSignedIn();
    const wait = retryAt - Date.now();
    if (wait > 0) await sleep(wait);
    return underRefreshLock(`edge-auth:refresh:${base}:${key}`, (waited) => rotate(seen, waited));
  }

  const refresh = (due?: string): Promise<Session> => {
    inflight ??= refreshNow(due).finally(() => {
      inflight = null;
    });
    return inflight;
  };

  async function getAccessToken(): Promise<string> {
    await ready;
    const session = current;
    if (!session) throw notSignedIn();
    const remaining = session.expiresAt - Date.now();
    if (remaining > leewayMs) return session.accessToken;
    // Still valid but due, and the service asked us to wait: use it meanwhile.
    if (remaining > 0 && Date.now() < retryAt) return session.accessToken;
    try {
      return (await refresh(session.refreshToken)).accessToken;
    } catch (error) {
      if (transient(error) && current && current.expiresAt > Date.now()) return current.accessToken;
      throw error;
    }
  }

  /**
   * Sends with the token; after a 401 invalid_token, one refresh (unless one already happened) and
   * one retry. For the app's requests (`app`), a 401 for a token obtained within FRESH_TOKEN_MS is
   * the answer: no refresh.
   */
  async function authorized(attempt: (token: string) => Promise<Response>, app = false): Promise<Response> {
    const token = await getAccessToken();
    const first = await attempt(token);
    if (first.status !== 401 || !(await saysInvalidToken(first))) return first;
    if (current && current.accessToken !== token) return attempt(current.accessToken);
    if (app && obtained.token === token && Date.now() - obtained.at < FRESH_TOKEN_MS) return first;
    return attempt((await refresh()).accessToken);
  }

  async function call<I, O>(route: Route<I, O>, input?: I): Promise<O> {
    const { path, body } = requestOf(route, input);
    await ready;
    // "optional": a guest's token (or one whose profile is unknown), for the upgrade in place or the merge.
    const withToken = route.auth === true || (route.auth && current && current.user?.isGuest !== false);
    const response = withToken
      ? await authorized((token) => post(route.method, path, body, token)).catch((error: unknown) => {
          // An optional token whose session is over (refresh answered 401, the session is cleared): go without.
          if (route.auth === "optional" && error instanceof EdgeAuthError && error.status === 401 && !current) return post(route.method, path, body);
          throw error;
        })
      : await post(route.method, path, body);
    const result = await readAnswer<O>(response);
    const answer = result as { accessToken?: unknown; user?: User; tokens?: TokenPair } | undefined;
    if (route.signsIn && typeof answer?.accessToken === "string") await adopt(result as TokenPair);
    else if (route.signsIn && typeof answer?.tokens?.accessToken === "string") await adopt(answer.tokens);
    else if (route.signsOut) await setSession(null, true);
    else if (answer?.user && current && (route.auth || answer.user.id === current.user?.id)) {
      // A fresher profile of the signed-in user (me, changePassword, updateProfile; confirmEmailChange
      // or verifyEmail of the same user).
      current = { ...current, user: answer.user };
      emit();
    }
    return result;
  }

  const generated = methods(routes, call);
  const client = {
    ...generated,
    oauth: {
      ...generated.oauth,
      authorizeUrl(provider: string, { redirectUri, state }: { redirectUri: string; state?: string }) {
        const query = new URLSearchParams({ redirect_uri: redirectUri, ...(state === undefined ? {} : { state }) });
        return `${base}/oauth/${encodeURIComponent(provider)}/authorize?${query}`;
      },
    },
    ready,
    get session() {
      return current;
    },
    onChange(listener: (session: Session | null) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    getAccessToken,
    refresh: () => refresh(),
    async logout() {
      await ready;
      const ending = current;
      await setSession(null, true);
      if (!ending) return false;
      try {
        const response = await post("POST", "/revoke", { refreshToken: ending.refreshToken });
        return response.ok;
      } catch {
        return false;
      }
    },
    async logoutAll() {
      const response = await authorized((token) => post("POST", "/revoke-all", undefined, token));
      if (!response.ok && response.status !== 401) throw await errorFrom(response);
      await setSession(null, true);
    },
    fetch(input: Request | string | URL, init?: RequestInit) {
      const request = new Request(input, init);
      return authorized((token) => {
        const headers = new Headers(request.headers);
        headers.set("authorization", `Bearer ${token}`);
        return send(new Request(request.clone(), { headers }));
      }, true);
    },
    call,
  };
  return client as Client;
}
