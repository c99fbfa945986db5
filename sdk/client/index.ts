/**
 * `edge-auth/client` (API.md §14): a typed client for every `/v1/auth` route that keeps the session,
 * refreshes it single-flight (across tabs too, with `navigator.locks` and storage events) and adds
 * the Bearer token to the app's own requests. No Node-only API: browsers, React Native, Node ≥ 20,
 * Workers.
 *
 * @example
 * import { createClient, localStorageAdapter } from "edge-auth/client";
 * const auth = createClient({ baseUrl: "https://auth.example.com", storage: localStorageAdapter() });
 * await auth.login({ email: "ada@example.com", password: "…" });
 * const response = await auth.fetch("https://api.example.com/notes"); // Bearer added, refreshed when due
 * auth.onChange((session) => render(session?.user ?? null));
 */
import { EdgeAuthError, errorFrom, networkError, saysInvalidToken } from "./errors";
import { isRoute, routes } from "./routes";
import type { Methods, Route, TokenPair, User } from "./routes";
import { memoryStorage, parseStored } from "./storage";
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
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Answers that say nothing about the session: retry later, keep it. */
const transient = (error: unknown) => error instanceof EdgeAuthError && (error.status === 0 || error.status === 429 || error.status >= 500);


interface NavigatorLocks {
  request<T>(name: string, callback: (lock: unknown) => Promise<T>): Promise<T>;
  request<T>(name: string, options: { ifAvailable: true }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

/**
 * How long a tab that waited for another tab's refresh lets that tab's new pair reach its own
 * localStorage (Chromium propagates writes between tabs' processes asynchronously) before it
 * concludes nobody refreshed. Milliseconds.
 */
const PROPAGATION_MS = 150;

/**
 * An app's 401 for an access token the client obtained less than this long ago is returned as is
 * (issue 26): a token that new is refused for the app's own reasons (its verifier's issuer,
 * audience or clock, or its routes answering 401), which a refresh cannot change; refreshing on
 * every such answer would only spend the refresh limit. Milliseconds.
 */
const FRESH_TOKEN_MS = 30_000;

/** Creates a client; see ClientOptions. Nothing is sent until a method is called. */
/**
 * The `aal` claim of an access token (API.md §15), read without verifying (the client only shows
 * it; services verify). "aal1" when absent or unreadable.
 */
function aalOf(accessToken: string): "aal1" | "aal2" {
  try {
    const part = accessToken.split(".")[1] ?? "";
    const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    return (JSON.parse(atob(padded)) as { aal?: unknown }).aal === "aal2" ? "aal2" : "aal1";
  } catch {
    return "aal1";
  }
}

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
    if (persist) {
      try {
        if (next) {
          const { accessToken, refreshToken, expiresAt, sessionId } = next;
          await storage.set(key, JSON.stringify({ accessToken, refreshToken, expiresAt, sessionId }));
        } else {
          await storage.remove(key);
        }
      } catch {
        // a failing store must not keep the app signed in (or out) in memory
      }
    }
    emit();
  }

  const adopt = async (pair: TokenPair): Promise<Session> => {
    obtained = { token: pair.accessToken, at: Date.now() };
    const session: Session = {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      expiresAt: Date.now() + pair.expiresIn * 1000,
      sessionId: pair.sessionId,
      user: pair.user,
      aal: aalOf(pair.accessToken),
    };
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

  async function post(method: string, path: string, body: unknown, token?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await send(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw networkError(error);
    }
  }

  function backoff(error: unknown): void {
    const retryAfter = error instanceof EdgeAuthError ? error.retryAfter : undefined;
    backoffMs = retryAfter !== undefined ? retryAfter * 1000 : Math.min(Math.max(backoffMs * 2, 1000), 60_000);
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
    const locks = (globalThis as { navigator?: { locks?: NavigatorLocks } }).navigator?.locks;
    if (!locks) return rotate(seen);
    const name = `edge-auth:refresh:${base}:${key}`;
    // First without waiting: when another tab holds the lock, it is refreshing right now.
    const ran = await locks.request(name, { ifAvailable: true }, async (lock) => (lock ? { session: await rotate(seen) } : null));
    return ran ? ran.session : locks.request(name, () => rotate(seen, true));
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
    let path = route.path;
    // Fields left undefined are not sent (JSON.stringify would drop them; a query string would not).
    let body: Record<string, unknown> | undefined =
      input == null ? undefined : Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    path = path.replace(/:(\w+)/g, (_, name: string) => {
      const value = body?.[name];
      if (body) delete body[name];
      return encodeURIComponent(String(value));
    });
    if (body && Object.keys(body).length === 0) body = undefined;
    if (route.method === "GET" && body) {
      path += `?${new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)]))}`;
      body = undefined;
    }
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
    if (!response.ok) throw await errorFrom(response);
    const text = response.status === 204 ? "" : await response.text();
    const result = (text ? JSON.parse(text) : undefined) as O;
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

  function methods<T>(table: T): Methods<T> {
    const out: Record<string, unknown> = {};
    for (const [name, entry] of Object.entries(table as Record<string, unknown>)) {
      out[name] = isRoute(entry) ? (input?: unknown) => call(entry, input) : methods(entry);
    }
    return out as Methods<T>;
  }

  const generated = methods(routes);
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
