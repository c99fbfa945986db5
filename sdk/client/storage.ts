/**
 * Where the client keeps its tokens (API.md §14): any `{ get, set, remove }`, sync or async (a
 * React Native secure store is async). Only the tokens are stored, never the user profile, because
 * mobile secure stores hold little. `subscribe` is optional: an adapter that can hear other tabs
 * (localStorage's `storage` event) passes their changes on.
 *
 * @example
 * const storage = localStorageAdapter();          // browsers: shared by the origin's tabs
 * const storage = memoryStorage();                // tests, servers, one-shot scripts
 * const storage = { get: SecureStore.getItemAsync, set: SecureStore.setItemAsync, remove: SecureStore.deleteItemAsync };
 */

import type { StoredTokens } from "./types";

type MaybePromise<T> = T | Promise<T>;

/** A key-value store of strings; each method may answer at once or with a promise. */
export interface TokenStorage {
  get(key: string): MaybePromise<string | null | undefined>;
  set(key: string, value: string): MaybePromise<void>;
  remove(key: string): MaybePromise<void>;
  /** Calls `listener` when ANOTHER context changed `key` (null: removed); returns an unsubscribe. */
  subscribe?(key: string, listener: (value: string | null) => void): () => void;
}

/** A store that lives as long as the page or process: nothing survives a reload. */
export function memoryStorage(): TokenStorage {
  const values = new Map<string, string>();
  return {
    get: (key) => values.get(key) ?? null,
    set: (key, value) => void values.set(key, value),
    remove: (key) => void values.delete(key),
  };
}

/** The part of Web Storage (`localStorage`) the adapter uses; no DOM types needed. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface StorageEventLike {
  storageArea: unknown;
  key: string | null;
  newValue: string | null;
}

/**
 * `localStorage` (or any Web Storage), shared by every tab of the origin; its `storage` events tell
 * this tab about another tab's refresh or sign-out.
 */
export function localStorageAdapter(store: WebStorageLike = (globalThis as unknown as { localStorage: WebStorageLike }).localStorage): TokenStorage {
  return {
    get: (key) => store.getItem(key),
    set: (key, value) => store.setItem(key, value),
    remove: (key) => store.removeItem(key),
    subscribe(key, listener) {
      const target = globalThis as unknown as {
        addEventListener?: (type: "storage", l: (event: StorageEventLike) => void) => void;
        removeEventListener?: (type: "storage", l: (event: StorageEventLike) => void) => void;
      };
      const onStorage = (event: StorageEventLike) => {
        if (event.storageArea === store && event.key === key) listener(event.newValue);
        else if (event.storageArea === store && event.key === null) listener(null); // clear()
      };
      target.addEventListener?.("storage", onStorage);
      return () => target.removeEventListener?.("storage", onStorage);
    },
  };
}

/** The session record `createClient` keeps under its key; null when absent or unreadable. */
export function parseStored(value: string | null | undefined): StoredTokens | null {
  if (!value) return null;
  try {
    const t = JSON.parse(value) as Partial<StoredTokens>;
    if (typeof t.accessToken === "string" && typeof t.refreshToken === "string" && typeof t.expiresAt === "number" && typeof t.sessionId === "string") {
      return { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt, sessionId: t.sessionId };
    }
  } catch {
    // unreadable: as if nothing were stored
  }
  return null;
}

/**
 * Writes the session's tokens under `key` (the JSON `parseStored` reads: the four StoredTokens
 * fields, never the profile), or removes them for null. A store that fails is ignored.
 */
export async function storeTokens(storage: TokenStorage, key: string, next: StoredTokens | null): Promise<void> {
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
