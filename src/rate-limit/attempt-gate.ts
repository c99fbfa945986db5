/**
 * The gate of password checks in flight for one account (API.md §6: 10 failed logins in 15 minutes
 * per account), kept in the memory of the Durable Object that stands for the account: the user's
 * object (src/sessions/user-object.ts) for an existing account, a `RateLimiter` named
 * `login:<identifier hash>` for an identifier no account has (src/rate-limit/login-attempt.ts), so
 * unknown accounts are gated exactly like known ones.
 *
 * Why it exists (issue 27): a password sign-in used to count its attempt in D1 before the check
 * (one write transaction per sign-in, on top of the session's). Now D1's `counters` row holds what
 * failed (a failed password is counted with its `sign_in_failed` event, in the batch written
 * anyway), and what is being checked lives here:
 *
 * - **reserve**: the Worker brings the account's count as it read it from D1 with the user's row
 *   (`seen`); the gate adds the failures reported to it since (`known`: each failure's D1 upsert
 *   returns the count it made, newer than any read that missed it) and the checks in flight. A check
 *   may start while `count + in flight < limit`, so parallel guesses cannot all pass: 24 at once see
 *   exactly 10 checked. Past the limit: refused. Short of it only because of checks in flight: it
 *   waits for them (`IN_FLIGHT_WAIT_MS` at most), since they may succeed and clear the count, so 15
 *   parallel logins with the right password all succeed.
 * - **release**: `failed` with the row its D1 upsert returned, `cleared` (a success: D1's count is
 *   cleared by the sign-in's own writes), or `unchecked`. A reservation never released (a Worker that
 *   died) lapses after `IN_FLIGHT_MS`.
 *
 * Which count is newer is decided by the window's start, never by clocks of different machines: a
 * D1 row's `windowStart` only moves forward (a new window, or a clear: src/rate-limit/index.ts
 * `clearLoginAttemptsStatement` sets the count to 0 with the clear's instant, or 1 ms past the row's
 * start when a failure opened a later window before the clear was written), so of two rows the
 * later start is the later state, and within one window the larger count is. The state is memory
 * only: an object that restarts forgets checks in flight (at most one window of parallel checks
 * more, bounded by the failures already in D1) and never stores anything for a reservation.
 *
 * @example
 * const gate = new AttemptGate();
 * const reserved = await gate.reserve({ seen: { count: 3, windowStart }, limit: 10, windowSeconds: 900 });
 * if (reserved.ok) gate.release({ id: reserved.id, outcome: "failed", row: { count: 4, windowStart } });
 */

/** An account's counter as D1 holds it: failures (and counted code tries) in the window opened at `windowStart` (ms). */
export interface CountRow {
  count: number;
  windowStart: number;
}

/** What the Worker read and the limit it checks against (ACCOUNT_LOGIN_FAILURES). */
export interface ReserveInput {
  /** The account's counter row as read with the user's row, or null when it had none. */
  seen: CountRow | null;
  limit: number;
  windowSeconds: number;
}

/** A check may start (`id` names its reservation), or a refusal with Retry-After (s). */
export type ReserveOutcome = { ok: true; id: string } | { ok: false; retryAfter: number };

/** How a reserved check ended. */
export type ReleaseInput =
  | { id: string; outcome: "failed"; row: CountRow }
  | { id: string; outcome: "cleared" | "unchecked" };

/** How long a reservation counts as in flight before it lapses (ms): a Worker lost mid-check. */
export const IN_FLIGHT_MS = 60_000;
/** How long a check refused only because of others in flight waits for them, at most (ms). */
export const IN_FLIGHT_WAIT_MS = 8_000;

/** The gate of one account (see the module comment). Not persistent; one per object. */
export class AttemptGate {
  /** Reservation id → the instant it lapses (ms). */
  readonly #inFlight = new Map<string, number>();
  /** The newest count a failure reported, if any. */
  #known: CountRow | null = null;
  #wake: Array<() => void> = [];

  /** Reserves one check, waiting while others in flight may still clear the count (see the module comment). */
  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    for (;;) {
      const now = Date.now();
      for (const [id, lapses] of this.#inFlight) if (lapses <= now) this.#inFlight.delete(id);
      const count = newer(live(input.seen, input, now), live(this.#known, input, now));
      const failed = count?.count ?? 0;
      if (failed + this.#inFlight.size < input.limit) {
        const id = crypto.randomUUID();
        this.#inFlight.set(id, now + IN_FLIGHT_MS);
        return { ok: true, id };
      }
      if (failed >= input.limit || this.#inFlight.size === 0 || now + 250 > deadline) {
        const retryAfter = count ? Math.max(1, Math.ceil((count.windowStart + input.windowSeconds * 1000 - now) / 1000)) : 1;
        return { ok: false, retryAfter };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - now);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ends a reservation (unknown ids are ignored) and wakes the checks waiting for it. */
  release(input: ReleaseInput): void {
    this.#inFlight.delete(input.id);
    if (input.outcome === "failed") this.#known = newer(this.#known, input.row);
    if (input.outcome === "cleared") this.#known = null;
    const waiting = this.#wake;
    this.#wake = [];
    for (const wake of waiting) wake();
  }
}

/** The row, or null once its window ended. */
function live(row: CountRow | null, rate: { windowSeconds: number }, now: number): CountRow | null {
  return row && row.windowStart > now - rate.windowSeconds * 1000 ? row : null;
}

/**
 * The later of two states of one counter: the later window (a new window or a clear), or within
 * one window the larger count (D1's count only grows inside a window).
 */
export function newer(a: CountRow | null, b: CountRow | null): CountRow | null {
  if (!a || !b) return a ?? b;
  if (a.windowStart !== b.windowStart) return a.windowStart > b.windowStart ? a : b;
  return a.count >= b.count ? a : b;
}
