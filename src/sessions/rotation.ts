/**
 * A session's next refresh-token pair, made in the user's object (src/sessions/user-object.ts, whose
 * serial queue runs both operations one at a time): a refresh's **rotation** (the reuse window's
 * repeat, reuse detection, expiry, the D1 confirmation the store cannot vouch for: src/sessions/vouch.ts)
 * and a **reissue** for a new role or assurance. Token state (src/sessions/token-store.ts) changes only
 * after any D1 write they need succeeded.
 *
 * @example
 * const rotation = new Rotation({ env: () => this.env, held, profiles, clock, vouching, revocation, adoption });
 * const outcome = await rotation.refresh({ token, ipAddress, userAgent }); // inside the serial queue
 */
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import type { Config } from "../config";
import { seal, sha256, unseal } from "../crypto";
import type { ClientInfo, IssuedPair, Role } from "../types";
import type { Adoption } from "./adoption";
import { refreshExpiry } from "./expiry";
import type { HeldStore } from "./held-store";
import { expireUnlimitedSessions } from "./object-statements";
import { tokenPair } from "./pair";
import { openedPair } from "./pair-outcome";
import type { PairOutcome, Touched } from "./pair-outcome";
import type { ProfileCache } from "./profile-cache";
import { makeRefreshToken, parseRefreshToken } from "./refresh-token";
import type { Revocation } from "./revocation";
import { changing } from "./revocation";
import type { Clock } from "./token-store";
import type { Vouching } from "./vouch";

/** A reissue's request: the session, its new role, and a method joining its `amr` (a second factor shown). */
export type ReissueInput = ClientInfo & { userId: string; sessionId: string; role: Role; addMethod?: string };

/** What `Rotation` works with: the object's parts. */
export interface RotationParts {
  env: () => Env;
  held: HeldStore;
  profiles: ProfileCache;
  clock: Clock;
  vouching: Vouching;
  revocation: Revocation;
  adoption: Adoption;
}

/** The user object's rotations and reissues, as described above. Runs inside the object's serial queue. */
export class Rotation {
  constructor(private readonly parts: RotationParts) {}

  get #config(): Config {
    return loadConfig(this.parts.env());
  }

  get #store() {
    return this.parts.held.store;
  }

  get #db() {
    return drizzle(this.parts.env().DB);
  }

  #expiry(role: Role, now: number, sessionStart: number): number | null {
    return refreshExpiry(this.#config, role, now, sessionStart);
  }

  async #pair(userId: string, sessionId: string, role: Role, touched: Touched, expiresAt: number | null, now: number): Promise<IssuedPair> {
    return tokenPair(this.#config, { userId, sessionId, role, expiresAt, assurance: touched.assurance }, makeRefreshToken(userId, sessionId), touched.user, now);
  }

  /**
   * Rotates a refresh token. The same token again within the reuse window gets the same new pair
   * (parallel tabs stay signed in); after the window it revokes the whole session.
   */
  async refresh(input: ClientInfo & { token: string }): Promise<PairOutcome> {
    const parsed = parseRefreshToken(input.token);
    if (!parsed) return { ok: false, reason: "invalid" } as const;
    const now = this.parts.clock.now();
    const hash = await sha256(input.token);
    let row = this.parts.held.existing?.token(hash);
    const adopted = !row && (await this.parts.adoption.adopt(parsed.userId, parsed.sessionId, now, hash));
    if (adopted) row = this.#store.token(hash);
    if (!row || row.session_id !== parsed.sessionId) return { ok: false, reason: "invalid" } as const;
    const session = this.#store.session(row.session_id);
    if (!session) return { ok: false, reason: "invalid" } as const;
    if (session.expires_at !== null && session.expires_at <= now) {
      await this.parts.revocation.revoke(parsed.userId, [session.id], "expired", now);
      return { ok: false, reason: "expired" } as const;
    }

    if (row.rotated_at !== null) {
      const successor = row.successor_hash ? this.#store.token(row.successor_hash) : undefined;
      const withinWindow = now - row.rotated_at <= this.#config.reuseWindowMs;
      if (withinWindow && successor && successor.rotated_at === null) {
        const opened = row.successor_sealed ? await unseal(input.token, row.successor_sealed) : null;
        // A sign-in's session limit revokes in D1 only (src/sessions/issue.ts), so this object may
        // still hold an evicted session: the repeat gets its pair only while the row is live.
        if (opened && !this.parts.vouching.vouched(session) && !(await this.parts.adoption.liveInD1(parsed.userId, session.id, now))) {
          this.#store.forget(session.id);
          return { ok: false, reason: "invalid" } as const;
        }
        if (opened) return { ok: true, pair: openedPair(opened) } as const;
        // Superseded by a reissue (upgrade), whose pair went to the caller that asked for it.
        if (!row.successor_sealed) return { ok: false, reason: "invalid" } as const;
      }
      await this.parts.revocation.revoke(parsed.userId, [session.id], "reuse", now);
      return { ok: false, reason: "reused" } as const;
    }

    const role = this.#store.role();
    const expiresAt = this.#expiry(role, now, session.created_at);
    if (expiresAt !== null && expiresAt <= now) {
      await this.parts.revocation.revoke(parsed.userId, [session.id], "expired", now);
      return { ok: false, reason: "expired" } as const;
    }
    const touched = await this.parts.vouching.confirm(parsed.userId, session, expiresAt, input, now, adopted);
    if (!touched) {
      this.#store.forget(session.id);
      return { ok: false, reason: "invalid" } as const;
    }

    const pair = await this.#pair(parsed.userId, session.id, role, touched, expiresAt, now);
    const nextHash = await sha256(pair.refreshToken);
    const sealed = await seal(input.token, JSON.stringify(pair));
    this.#store.advance(session.id, nextHash, sealed, expiresAt, now);
    this.#store.recordUse(session.id, now, input);
    this.#store.prune(session.id, now - this.#config.reuseWindowMs);
    return { ok: true, pair } as const;
  }

  /**
   * Gives the session a fresh pair, for a new role (a guest upgraded) and its new expiry, or a new
   * assurance (a second factor activated or shown for step-up, API.md §15: `addMethod` joins the
   * session's `amr` unless already there, which makes it aal2 with `auth_time` now).
   */
  async reissue(input: ReissueInput): Promise<PairOutcome> {
    const now = this.parts.clock.now();
    if (!(await this.parts.adoption.adopt(input.userId, input.sessionId, now))) return { ok: false, reason: "invalid" } as const;
    const session = this.#store.session(input.sessionId);
    if (!session) return { ok: false, reason: "invalid" } as const;
    // A guest's session has no expiry and may be older than SESSION_MAX_DAYS: as a full account's,
    // its lifetime starts now, or the new pair would be expired on arrival.
    const start = session.expires_at === null ? now : session.created_at;
    const expiresAt = this.#expiry(input.role, now, start);
    const touched = await this.parts.vouching.touch(input.userId, session.id, expiresAt, start, input, now, input.addMethod);
    if (!touched) return { ok: false, reason: "invalid" } as const;
    const user = touched.user;
    const pair = await this.#pair(user.id, session.id, input.role, touched, expiresAt, now);
    const hash = await sha256(pair.refreshToken);
    // The guest's sessions now belong to a full account: they expire like one, counted from now.
    if (expiresAt !== null) {
      await this.parts.adoption.adoptUnlimited(user.id, now);
      this.#store.expireUnlimited(expiresAt, now);
    }
    // No sealed pair: inside the window the old token is refused quietly, after it, it is reuse.
    this.#store.advance(session.id, hash, null, expiresAt, now);
    this.#store.recordUse(session.id, now, input);
    this.#store.setRole(input.role);
    if (expiresAt === null) return { ok: true, pair } as const;
    await changing(this.parts.profiles, () => expireUnlimitedSessions(this.#db, user.id, expiresAt));
    return { ok: true, pair } as const;
  }
}
