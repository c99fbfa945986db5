/**
 * Passkey sign-in challenges with no D1 row (API.md §12; issue 27, slice 6: a passkey sign-in writes
 * D1 once). The options used to store a challenge row in D1 (a write transaction, a trip to the
 * primary) and the sign-in spent it (a second write). Now:
 *
 * - **The id carries its age.** `challengeId` is a UUID version 7 (RFC 9562 §5.7): its first 48 bits
 *   are the Unix time in ms when the options were made, the rest random (74 bits). Still a UUID, as
 *   the request schema requires.
 * - **The challenge is derived from the id**: HMAC-SHA-256 under a key derived from the service's
 *   secrets (the signing key's private part and the pepper, as email codes are), of
 *   `webauthn.get`‖id: 32 bytes no one without the key can compute or predict, so the WebAuthn rule
 *   that a challenge be at least 16 random bytes (WebAuthn §13.4.3) holds. Nothing is stored when the
 *   options are made.
 * - **Lifetime from the id**: answerable while `now < time + CHALLENGE_TTL_MS` (5 minutes); an id
 *   from more than `FUTURE_SKEW_MS` in the future is refused (clocks of two machines).
 * - **Spent by its first use, right or wrong**: the sign-in marks the id in its own Durable Object
 *   (src/passkeys/challenge-object.ts), in parallel with its one D1 read; a second use is refused.
 *   The object forgets the mark at `forgetAt`, a full lifetime after the challenge expired, when the
 *   id is refused by its age alone.
 *
 * Rotating JWT_SIGNING_KEY or PASSWORD_PEPPER voids the challenges made before (at most 5 minutes of
 * sign-ins in progress fail with 401 and retry). Registration challenges are unchanged (a D1 row
 * that carries the user handle, src/passkeys/challenges.ts): a registration is rare, and its options
 * need the caller's account anyway.
 *
 * @example
 * const { id, challenge } = await newLoginChallenge(config);            // options: no I/O
 * const expected = await loginChallengeOf(config, id, Date.now());      // null: malformed or expired
 * if (expected && (await spendLoginChallenge(env, id, expected))) verify(expected.challenge);
 */
import type { Config } from "../config";
import { base64url } from "../crypto";
import { CHALLENGE_TTL_MS } from "./challenges";

/** How far ahead of this Worker's clock a challenge id's time may be (ms). */
export const FUTURE_SKEW_MS = 5_000;

/** A sign-in challenge as the options carry it and the sign-in expects it. */
export interface LoginChallenge {
  /** The UUID version 7 the client posts back as `challengeId`. */
  id: string;
  /** base64url of the 32-byte challenge. */
  challenge: string;
  /** When it stops being answerable (ms since the epoch). */
  expiresAt: number;
}

const encoder = new TextEncoder();
const keys = new WeakMap<Config, Promise<CryptoKey>>();

/** The HMAC key challenges are derived under: from secrets that live outside the database. */
function challengeKey(config: Config): Promise<CryptoKey> {
  let key = keys.get(config);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", encoder.encode(`webauthn-login\u0000${config.pepper ?? ""}\u0000${config.signingKey.d}`))
      .then((material) => crypto.subtle.importKey("raw", material, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    keys.set(config, key);
  }
  return key;
}

/**
 * A UUID version 7 (RFC 9562 §5.7) for the instant `now` (ms since the epoch): 48 bits of time, the
 * version, 12 random bits, the variant, 62 random bits. Lower-case, as the request schema normalises.
 */
export function uuidV7(now: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let time = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256;
    time = Math.floor(time / 256);
  }
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The time (ms) in a UUID version 7, or null when `id` is not one. */
export function uuidV7Time(id: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

async function derive(config: Config, id: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await challengeKey(config), encoder.encode(`webauthn.get\u0000${id}`));
  return base64url(new Uint8Array(mac));
}

/** A fresh sign-in challenge made at `now` (ms). No I/O. */
export async function newLoginChallenge(config: Config, now = Date.now()): Promise<LoginChallenge> {
  const id = uuidV7(now);
  return { id, challenge: await derive(config, id), expiresAt: now + CHALLENGE_TTL_MS };
}

/**
 * The challenge `id` names, while it is answerable at `now` (ms); null when `id` is not a UUID
 * version 7, is older than CHALLENGE_TTL_MS or from the future. Whether it was used already is the
 * spend's answer (`spendLoginChallenge`), not this.
 */
export async function loginChallengeOf(config: Config, id: string, now: number): Promise<LoginChallenge | null> {
  const made = uuidV7Time(id);
  if (made === null || made > now + FUTURE_SKEW_MS || now >= made + CHALLENGE_TTL_MS) return null;
  return { id, challenge: await derive(config, id), expiresAt: made + CHALLENGE_TTL_MS };
}

/**
 * Spends the challenge in its own Durable Object: true for its first use, false for any later one.
 * The object's errors (and the binding's, thrown as the stub is made) reject the promise: the
 * caller answers 503.
 */
export async function spendLoginChallenge(env: Env, challenge: LoginChallenge): Promise<boolean> {
  const stub = env.LOGIN_CHALLENGES.get(env.LOGIN_CHALLENGES.idFromName(challenge.id));
  return stub.spend(challenge.expiresAt + CHALLENGE_TTL_MS);
}
