/**
 * A session's assurance (API.md §15): `aal`, `amr` and `auth_time`, as its row in D1 keeps them and
 * its access tokens carry them. One place decides the level: a passkey, or any two methods, make
 * `aal2` (NIST SP 800-63B-4: a device with user verification is two factors; a first factor and a
 * TOTP or recovery code are two); anything else is `aal1`.
 *
 * @example
 * const assurance = assuranceFor(["password", "totp"], Date.now()); // { aal: "aal2", amr: [...], authTime }
 * const row = assuranceColumns(assurance); // { aal, amr: "password totp", authTime } for the sessions row
 * sessionAssurance(sessionRow); // back from the row, defaults for sessions from before the columns
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

/** The sessions row's columns for an assurance (`auth_time` in ms there). */
export function assuranceColumns(assurance: Assurance, now: number) {
  return { aal: assurance.aal, amr: assurance.amr.join(" "), authTime: now };
}

/**
 * The assurance a session row records. A session from before the second factor (null columns) is
 * aal1, with its sign-in method as `amr` when the migration could name it, proven at its start.
 */
export function sessionAssurance(row: { aal: string | null; amr: string | null; authTime: number | null; createdAt: number }): Assurance {
  const amr = row.amr ? row.amr.split(" ").filter(Boolean) : [];
  return { aal: row.aal === "aal2" ? "aal2" : "aal1", amr, authTime: Math.floor((row.authTime ?? row.createdAt) / 1000) };
}
