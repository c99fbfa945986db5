/**
 * Password policy and hashing (API.md §2). Hashes are self-describing strings,
 * `pbkdf2-sha256$<iterations>$<salt>$<hash>` (salt and hash base64url), so the work factor can be
 * raised later: `verifyPassword` reports `needsRehash` and the login upgrades the stored hash.
 * With a PASSWORD_PEPPER secret the password is first HMAC-ed with it (NIST 800-63B §3.1.1.2) and
 * the algorithm reads `pbkdf2-sha256+pepper`, so a pepper added later upgrades old hashes at the
 * next login instead of locking their owners out.
 *
 * @example
 * import { hashPassword, verifyPassword } from "./passwords";
 * const stored = await hashPassword("correct horse battery", { iterations: 100_000 });
 * const { valid, needsRehash } = await verifyPassword("correct horse battery", stored, { iterations: 100_000 });
 */
import { isCommonPassword } from "./common-passwords";
import { MAX_PBKDF2_ITERATIONS } from "../config";
import { base64url, constantTimeEqual, fromBase64url } from "../crypto";
import { PASSWORD_ALGORITHMS } from "./password-column";

export interface HashOptions {
  iterations: number;
  pepper?: string | undefined;
}

// Their tags in D1's BLOB form are ./password-column.ts's.
const ALGORITHM = PASSWORD_ALGORITHMS[1];
const PEPPERED = PASSWORD_ALGORITHMS[2];
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** The service's hashing settings (PBKDF2_ITERATIONS, PASSWORD_PEPPER) as `HashOptions`. */
export const hashOptions = (deps: { config: { pbkdf2Iterations: number; pepper?: string | undefined } }): HashOptions => ({
  iterations: deps.config.pbkdf2Iterations,
  pepper: deps.config.pepper,
});

export const MAX_PASSWORD_LENGTH = 128;
const encoder = new TextEncoder();

/** NFKC, as NIST asks, so the same password typed on two keyboards hashes the same. */
export const normalizePassword = (password: string) => password.normalize("NFKC");

export interface PolicyInput {
  password: string;
  minLength: number;
  email?: string | null | undefined;
  username?: string | null | undefined;
}

/** The reason a new password is refused, or null when it is acceptable. */
export function passwordProblem({ password, minLength, email, username }: PolicyInput): string | null {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  if (length < minLength) return `must be at least ${minLength} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (isCommonPassword(normalized)) return "is too common; choose a less predictable password";
  const lower = normalized.toLowerCase();
  for (const identifier of [email, username, email?.split("@")[0]]) {
    if (identifier && lower === identifier.trim().toLowerCase()) {
      return "must not be the same as your email or username";
    }
  }
  return null;
}

async function derive(password: string, salt: Uint8Array, iterations: number, pepper?: string): Promise<Uint8Array> {
  let input: Uint8Array = encoder.encode(normalizePassword(password));
  if (pepper) {
    const key = await crypto.subtle.importKey("raw", encoder.encode(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    input = new Uint8Array(await crypto.subtle.sign("HMAC", key, input));
  }
  const key = await crypto.subtle.importKey("raw", input, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

export async function hashPassword(password: string, options: HashOptions): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, options.iterations, options.pepper);
  return [options.pepper ? PEPPERED : ALGORITHM, options.iterations, base64url(salt), base64url(hash)].join("$");
}

interface ParsedHash {
  peppered: boolean;
  iterations: number;
  salt: Uint8Array;
  hash: string;
}

function parseHash(stored: string): ParsedHash | null {
  const [algorithm, iterations, salt, hash, ...rest] = stored.split("$");
  const count = Number(iterations);
  if ((algorithm !== ALGORITHM && algorithm !== PEPPERED) || rest.length > 0 || !salt || !hash) return null;
  // A count production refuses would throw there: treat it as a broken hash, never a 500.
  if (!Number.isInteger(count) || count < 1 || count > MAX_PBKDF2_ITERATIONS) return null;
  return { peppered: algorithm === PEPPERED, iterations: count, salt: fromBase64url(salt), hash };
}

export interface VerifyResult {
  valid: boolean;
  needsRehash: boolean;
}

/**
 * Checks `password` against `stored`. With no stored hash (unknown user, guest) it still spends
 * one full derivation, so the answer takes the same time either way.
 */
export async function verifyPassword(
  password: string,
  stored: string | null | undefined,
  options: HashOptions,
): Promise<VerifyResult> {
  const parsed = stored ? parseHash(stored) : null;
  const salt = parsed?.salt ?? new Uint8Array(SALT_BYTES);
  // A peppered hash with no pepper configured cannot match; it still costs one derivation.
  const pepper = parsed && !parsed.peppered ? undefined : options.pepper;
  const derived = base64url(await derive(password, salt, parsed?.iterations ?? options.iterations, pepper));
  if (!parsed || (parsed.peppered && !options.pepper)) return { valid: false, needsRehash: false };
  const valid = constantTimeEqual(derived, parsed.hash);
  const outdated = parsed.iterations !== options.iterations || parsed.peppered !== Boolean(options.pepper);
  return { valid, needsRehash: valid && outdated };
}
