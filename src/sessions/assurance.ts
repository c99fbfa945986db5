/**
 * A session's assurance (API.md §15): `aal`, `amr` and `auth_time`, as the user's object holds them
 * (since issue 27's slice 9, from the sign-in on) or, for a session from before, as its D1 row keeps
 * them until the object copies them (src/sessions/vouch.ts `heldAssurance`), and as its access
 * tokens carry them. One place decides the level: a passkey, or any two methods, make
 * `aal2` (NIST SP 800-63B-4: a device with user verification is two factors; a first factor and a
 * TOTP or recovery code are two); anything else is `aal1`.
 *
 * @example
 * const assurance = assuranceFor(["password", "totp"], Date.now()); // { aal: "aal2", amr: [...], authTime }
 * withMethod(assurance, "totp", Date.now()); // a step-up: aal2, "totp" joins amr
 * sessionAssurance(sessionRow); // back from a row, defaults for sessions from before the columns
 */
import type { Aal, Assurance } from "../tokens";

/** The level proven by `methods` (in the order they were used). */
export function levelOf(methods: readonly string[]): Aal {
  return methods.includes("passkey") || new Set(methods).size >= 2 ? "aal2" : "aal1";
}

/** The assurance of a session proven by `methods` at `now` (ms). */
export function assuranceFor(methods: readonly string[], now: number): Assurance {
  return { aal: levelOf(methods), amr: [...methods], authTime: Math.floor(now / 1000) };
}

/**
 * A step-up (API.md §15): `method` joins `amr` (once), the session becomes aal2, proven at `now` (ms).
 * The same rule as the D1 row's step-up (src/sessions/object-statements.ts `touchSession`).
 */
export function withMethod(assurance: Assurance, method: string, now: number): Assurance {
  const amr = assurance.amr.includes(method) ? assurance.amr : [...assurance.amr, method];
  return { aal: "aal2", amr, authTime: Math.floor(now / 1000) };
}

/**
 * The assurance a session row records (D1's, or the object's `session_state`). Null columns (a
 * session from before the second factor) read as aal1, with its sign-in method as `amr` when the
 * migration could name it, proven at its start. A D1 row written since slice 9 has null columns
 * too, but its assurance is taken from the object, which holds it.
 */
export function sessionAssurance(row: { aal: string | null; amr: string | null; authTime: number | null; createdAt: number }): Assurance {
  const amr = row.amr ? row.amr.split(" ").filter(Boolean) : [];
  return { aal: row.aal === "aal2" ? "aal2" : "aal1", amr, authTime: Math.floor((row.authTime ?? row.createdAt) / 1000) };
}
