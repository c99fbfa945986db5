/**
 * The token store (src/sessions/token-store.ts) directly, on a real object's SQLite storage, with an
 * injected clock: sessions and their expiry, rotation history, pruning, role, guest expiries.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/db/object-migrations";
import { TOKEN_STORE_MIGRATIONS, TokenStore } from "../../src/sessions/token-store";

/** A clock that moves only when told. */
const fakeClock = (start = 1_000_000) => {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
};

/** Runs `fn` with a store on the storage of a fresh, unused UserSessions object. */
function withStore<T>(fn: (store: TokenStore, clock: ReturnType<typeof fakeClock>, sql: SqlStorage) => T): Promise<T> {
  const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(`store-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance, state) => {
    const clock = fakeClock();
    // The object creates its tables on first use; this one has had none.
    migrate(state.storage, TOKEN_STORE_MIGRATIONS);
    return fn(new TokenStore(state.storage.sql, clock), clock, state.storage.sql);
  });
}

describe("token store", () => {
  it("tells time by the injected clock", async () => {
    const times = await withStore((store, clock) => {
      const before = store.now();
      clock.advance(5000);
      return [before, store.now()];
    });
    expect(times).toEqual([1_000_000, 1_005_000]);
  });

  it("forgets sessions once the clock passes their expiry, oldest first otherwise", async () => {
    const result = await withStore((store, clock) => {
      store.addSession("a", clock.now(), clock.now() + 10_000, "ha");
      clock.advance(1);
      store.addSession("b", clock.now(), null, "hb");
      clock.advance(1);
      store.addSession("c", clock.now(), clock.now() + 60_000, "hc");
      const before = store.liveSessionIds(clock.now());
      clock.advance(10_000);
      const after = store.liveSessionIds(clock.now());
      return { before, after, token: store.token("ha"), session: store.session("a") };
    });
    expect(result.before).toEqual(["a", "b", "c"]);
    expect(result.after).toEqual(["b", "c"]);
    expect(result.token).toBeUndefined();
    expect(result.session).toBeUndefined();
  });

  it("advance makes the new hash current and records it as the old one's successor", async () => {
    const result = await withStore((store, clock) => {
      store.addSession("s", clock.now(), clock.now() + 1000, "h0");
      clock.advance(100);
      store.advance("s", "h1", "sealed-pair", clock.now() + 2000, clock.now());
      return { old: store.token("h0"), next: store.token("h1"), session: store.session("s") };
    });
    expect(result.old).toMatchObject({ session_id: "s", rotated_at: 1_000_100, successor_hash: "h1", successor_sealed: "sealed-pair" });
    expect(result.next).toMatchObject({ session_id: "s", rotated_at: null, successor_hash: null });
    expect(result.session?.expires_at).toBe(1_002_100);
  });

  it("prunes every 8 rotations: keeps the last 20 hashes and no sealed pair past the window", async () => {
    const result = await withStore((store, clock, sql) => {
      store.addSession("s", clock.now(), null, "h0");
      const counts: number[] = [];
      for (let i = 1; i <= 32; i++) {
        clock.advance(1000);
        store.advance("s", `h${i}`, `sealed${i}`, null, clock.now());
        // The reuse window: pairs sealed more than 10 s ago can no longer be used.
        store.prune("s", clock.now() - 10_000);
        counts.push(sql.exec<{ n: number }>("SELECT count(*) AS n FROM tokens").one().n);
      }
      const sealed = sql.exec<{ n: number }>("SELECT count(*) AS n FROM tokens WHERE successor_sealed IS NOT NULL").one().n;
      return { counts, sealed, newest: store.token("h32")?.rotated_at, oldest: store.token("h12") };
    });
    expect(result.counts[6]).toBe(8); // no pruning before the eighth rotation
    expect(result.counts[7]).toBe(9); // 9 rows, fewer than 20 kept: nothing to drop yet
    expect(result.counts[23]).toBe(20); // pruned on rotation 24
    expect(result.counts[31]).toBe(20); // and on rotation 32
    expect(result.sealed).toBeLessThanOrEqual(11);
    expect(result.newest).toBeNull();
    expect(result.oldest).toBeUndefined();
  });

  it("keeps the role, guest by default", async () => {
    const roles = await withStore((store, _clock, sql) => {
      const initial = store.role();
      store.setRole("user");
      return { initial, set: store.role(), reread: new TokenStore(sql).role() };
    });
    expect(roles).toEqual({ initial: "guest", set: "user", reread: "user" });
  });

  it("expireUnlimited gives sessions without expiry one, and restarts their lifetime", async () => {
    const result = await withStore((store, clock) => {
      store.addSession("guest", clock.now(), null, "g");
      store.addSession("full", clock.now(), clock.now() + 5000, "f");
      clock.advance(400 * 86_400_000);
      store.expireUnlimited(clock.now() + 1000, clock.now());
      return { guest: store.session("guest"), full: store.session("full") };
    });
    // D1's copy of the expiry is set with it (the object writes D1 the same value in its batch).
    expect(result.guest).toMatchObject({ id: "guest", created_at: 1_000_000 + 400 * 86_400_000, expires_at: 1_000_000 + 400 * 86_400_000 + 1000, d1_expires_at: 1_000_000 + 400 * 86_400_000 + 1000 });
    expect(result.full).toMatchObject({ id: "full", created_at: 1_000_000, expires_at: 1_005_000, d1_expires_at: null });
  });
});
