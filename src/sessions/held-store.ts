/**
 * The user object's token store as it opens and closes (src/sessions/user-object.ts): migrated and
 * opened on first use, so an object that holds no session has no storage (an object with storage is
 * kept, and billed, for good); reading and ending paths ask for `existing`, which creates none. Once
 * open, the object's change epoch is kept in it (`ProfileCache.attach`, src/sessions/profile-cache.ts),
 * so the marks a refresh trusts (src/sessions/vouch.ts) survive a restart. `erased()` forgets it after
 * the object's storage was deleted.
 *
 * @example
 * const held = new HeldStore(ctx.storage, clock, profiles);
 * held.existing?.session(sessionId); // no storage created
 * held.store.addSession(...);        // creates and migrates the storage
 */
import { migrate } from "../db/object-migrations";
import type { ProfileCache } from "./profile-cache";
import { TOKEN_STORE_MIGRATIONS, TokenStore } from "./token-store";
import type { Clock } from "./token-store";

export class HeldStore {
  #store: TokenStore | null = null;

  /** Opens the store at once when the object already holds one, so its epoch is durable from the first call. */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly clock: Clock,
    private readonly profiles: ProfileCache,
  ) {
    void this.existing;
  }

  /** The store, created (migrated) if the object has none yet. Synchronous. */
  get store(): TokenStore {
    if (this.#store) return this.#store;
    migrate(this.storage, TOKEN_STORE_MIGRATIONS);
    const store = (this.#store = new TokenStore(this.storage.sql, this.clock));
    this.profiles.attach(store.epoch(), (epoch) => store.setEpoch(epoch));
    return store;
  }

  /** The store if the object has one, else null; never creates storage. */
  get existing(): TokenStore | null {
    if (this.#store) return this.#store;
    const tables = this.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'").toArray();
    return tables.length > 0 ? this.store : null;
  }

  /** After the object's storage was deleted: the store is gone, and the epoch is memory-only again. */
  erased(): void {
    this.#store = null;
    this.profiles.detach();
  }
}
