/**
 * Password-free sign-in and sign-up by a mailed code (API.md §11).
 *
 * - `requestCode` stores a fresh 6-digit code for the address (replacing any earlier one) and
 *   answers the same whether or not an account uses it; the account lookup and the mail happen
 *   after the answer.
 * - `verifyCode` first tries the common case, a right code of a verified owner asked without a
 *   guest's token, with no D1 write before the session (src/email-codes/known-code.ts; issue 27,
 *   slice 6: one read, the try gated in the account's object, the code spent in the user's object
 *   with the session). Every other case:
 * - `verifyCode` checks the code in ONE D1 batch (src/email-codes/check.ts; issue 27: one serial
 *   trip to the primary before the session starts): the try is counted against the account, the
 *   owner is read, and the code is either spent (`DELETE … WHERE code_hash = ? … RETURNING`, so of
 *   any number of concurrent right answers exactly one wins) or one of its five tries is taken
 *   (`UPDATE … attempts + 1 WHERE code_hash <> ?`), both only while the account is under its limit.
 *   Then, for a known, verified address (the common case), `signIn` starts the session with no
 *   guard of its own: the code is already spent. An unverified owner is proven first
 *   (`signInOwner`), a new address signs up, a calling guest is upgraded in place.
 *
 * Decisions (issue 27): the spend moved out of the session's batch into the check's, so the session
 * needs no `onlyIf`. The hash is compared in SQL: it is an HMAC under a server-held key, so the
 * comparison's timing leaks nothing a caller can use (see check.ts). A right code never takes a
 * try; a wrong one always does (five void the code); "right but refused" holds the code back
 * untouched for a guest's 409 `conflict` and, with sign-up off, for an unknown address counts as a
 * wrong try (the two answers must not differ). A request answered 429 leaves the code as it was
 * (the spend and the try are conditioned in SQL on the count just taken). A disabled owner's right
 * code is spent (as before: the session's batch spent it whether or not its guard held), then 403.
 *
 * Codes are stored as HMAC-SHA-256(key, address ‖ code) under a key derived from the service's
 * secrets (the signing key's private part and the pepper), never in the database: a leaked table
 * alone does not let anyone try the million candidates offline.
 *
 * @example
 * import { requestCode, verifyCode } from "./index";
 * await requestCode(deps, { email: "ada@example.com" });
 * const pair = await verifyCode(deps, { email: "ada@example.com", code: "042917" }, auth);
 */
import { changeUser } from "../accounts/change-user";
import { and, eq, lt, or, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import { normalizeEmail } from "../accounts/users";
import { upgradeGuestInPlace } from "../accounts/upgrade-in-place";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import type { Config } from "../config";
import { base64url } from "../crypto";
import { serverHmacKey } from "../crypto/server-key";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { sendMail } from "../mail";
import { checkLogoUrl, cleanPlatformName, linkBase } from "../mail/links";
import { userIsDisabled, userMatches } from "../accounts/statements";
import { addressProvenStatements, changesHands } from "../accounts/address-proven";
import { signIn } from "../sessions";
import { previousChanged, publish, userEvent } from "../events";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { codeMail } from "./mail";
import { emailCodes } from "./schema";
import { codeMailCount } from "./limits";
import { insertWhere } from "../db/insert-where";
import { MAX_CODE_ATTEMPTS, checkCode } from "./check";
import { codeProofKey, signInWithKnownCode } from "./known-code";
import type { SpentProof } from "../sessions/spent-proofs";

export { MAX_CODE_ATTEMPTS } from "./check";

/** `POST /v1/auth/email-code`'s body (API.md §11; `baseUrl`/`clientAlias` as in §7). */
export interface RequestCodeInput {
  email: string;
  platformName?: string | undefined;
  logoUrl?: string | undefined;
  baseUrl?: string | undefined;
  clientAlias?: string | undefined;
}

/** `POST /v1/auth/email-code/verify`'s body: the address as typed and the six digits. */
export interface VerifyCodeInput {
  email: string;
  code: string;
}

const encoder = new TextEncoder();

/** HMAC-SHA-256 of the normalised address and the code, base64url. */
export async function codeHash(config: Config, normalizedEmail: string, code: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await serverHmacKey(config, "email-code"), encoder.encode(`${normalizedEmail}\u0000${code}`));
  return base64url(new Uint8Array(mac));
}

/** Six uniformly random decimal digits (rejection sampling, so no digit string is likelier). */
export function randomCode(): string {
  const limit = Math.floor(0x1_0000_0000 / 1_000_000) * 1_000_000;
  for (;;) {
    const [n] = crypto.getRandomValues(new Uint32Array(1));
    if (n! < limit) return String(n! % 1_000_000).padStart(6, "0");
  }
}

/**
 * Stores a new code for `input.email` and mails it. Every input check comes first, so a 400 never
 * depends on whether the account exists; 429 past the per-address mail limit (shared with the
 * recovery mails). With EMAIL_CODE_SIGN_UP=false, an address no account uses gets no mail (the
 * answer is the same).
 */
export async function requestCode(deps: Deps, input: RequestCodeInput): Promise<void> {
  const named = input.baseUrl !== undefined || input.clientAlias !== undefined;
  const base = named ? linkBase(deps.config, deps.origin, input) : null;
  const logoUrl = checkLogoUrl(input.logoUrl);
  const platformName = cleanPlatformName(input.platformName, deps.config.platformName);
  const to = input.email.trim();
  const email = normalizeEmail(to);
  const code = randomCode();
  const now = Date.now();
  const row = { emailNormalized: email, codeHash: await codeHash(deps.config, email, code), attempts: 0, createdAt: now, expiresAt: now + deps.config.emailCodeTtlMs };
  const db = drizzle(deps.env.DB);
  // One batch: the mail is counted, and the code stored only while the count allows it (429 stores nothing).
  // A new code replaces the row, which voids the previous code and resets the wrong-try count.
  const mail = await codeMailCount(deps, db, email, now);
  const [counted] = await db.batch([
    mail.statement,
    insertWhere(db, emailCodes, row, mail.allowed).onConflictDoUpdate({ target: emailCodes.emailNormalized, set: row }),
  ]);
  mail.refuse(counted[0]);

  sendMail(deps, async () => {
    const owner = await db.select({ email: users.email }).from(users).where(eq(users.emailNormalized, email)).get();
    if (!owner && !deps.config.emailCodeSignUp) return null;
    const link = base ? `${base}/sign-in?${new URLSearchParams({ email: owner?.email ?? to, code })}` : null;
    return codeMail({ to: owner?.email ?? to, platformName, logoUrl, code, link, minutes: Math.round(deps.config.emailCodeTtlMs / 60_000) });
  });
}

const invalidCode = () => new AuthError("invalid_credentials", "The code is wrong or has expired");

/**
 * Signs in with a mailed code (see the module comment) and returns the new session's pair (API.md
 * §11). `input.email` as typed (normalised here), `input.code` six digits. `auth` is the caller's
 * session when it sent a Bearer token; only a guest's changes anything (a full account's token is
 * ignored). 401 `invalid_credentials` for a wrong, void or expired code and when sign-up is off;
 * 403 `account_disabled`; 403 `mfa_required` (from `signIn`) for an account with a second factor;
 * 409 `conflict` for a guest whose address belongs to an account (the code is not spent then);
 * 429 `rate_limited` past the account's failed-login limit (nothing of the code changes then).
 */
export async function verifyCode(deps: Deps, input: VerifyCodeInput, auth?: Auth): Promise<IssuedPair> {
  const email = normalizeEmail(input.email);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const guest = auth?.user.isGuest ? auth : undefined;
  const hash = await codeHash(deps.config, email, input.code.trim());
  // The common case, a right code of a verified owner: no D1 write before the session (src/email-codes/known-code.ts).
  if (!guest) {
    const pair = await signInWithKnownCode(deps, { email, hash, now });
    if (pair) return pair;
  }
  // Every other case (src/email-codes/check.ts): counted, owner read, spent or tried, in one batch.
  const check = await checkCode(deps, db, { email, hash, guest: guest !== undefined, signUp: deps.config.emailCodeSignUp, now });
  // Spent here in D1: recorded in the owner's object too, so a sign-in of known-code.ts with the same code cannot also start.
  const spend = { key: codeProofKey(hash), expiresAt: now + deps.config.emailCodeTtlMs };
  let owner = check.owner;
  if (!check.spent) {
    if (guest && owner && check.kept) {
      // Nothing changed (no try taken, the code is not spent): the app can call again without the token.
      throw new AuthError("conflict", "The address belongs to another account; sign in without the guest token", [{ field: "email", message: "belongs to another account" }]);
    }
    // A wrong, void or expired code; with sign-up off and no owner even a right one (it took a try).
    return wrongCode(deps, db, email, owner, check.tried);
  }

  if (owner && owner.emailVerifiedAt !== null) {
    // The common case, a known address: the code is already spent, so the session starts with no
    // guard of its own (`signIn` without `onlyIf`: no further D1 trip on the request's path).
    if (owner.disabledAt !== null) throw new AuthError("account_disabled", "This account is disabled");
    const pair = await signIn(deps, { userId: owner.id, method: "code", spend });
    if (pair) return pair;
    // Disabled or deleted since the check, or the code spent by a sign-in of known-code.ts.
    if (await userIsDisabled(db, owner.id)) throw new AuthError("account_disabled", "This account is disabled");
    return wrongCode(deps, db, email, owner, undefined);
  }

  if (!owner && guest) return upgradeGuestInPlace(deps, guest, { email: input.email });
  if (!owner) owner = await signUp(deps, db, input.email, now);
  return signInOwner(deps, db, owner, now, spend);
}

/**
 * Records a failed sign-in for an existing account and drops the code when it is expired or this
 * wrong try was its last (`tried`: the try this request took, if any).
 */
async function wrongCode(
  deps: Deps,
  db: DrizzleD1Database,
  email: string,
  owner: UserRow | undefined,
  tried: { codeHash: string; attempts: number } | undefined,
): Promise<never> {
  const void_ = tried && tried.attempts >= MAX_CODE_ATTEMPTS ? eq(emailCodes.codeHash, tried.codeHash) : undefined;
  await db.batch([
    // A void or expired code is of no further use: drop it at once (only this code, not a newer one).
    db.delete(emailCodes).where(and(eq(emailCodes.emailNormalized, email), void_ ? or(lte(emailCodes.expiresAt, Date.now()), void_) : lte(emailCodes.expiresAt, Date.now()))),
    ...(owner && !owner.isGuest ? [activityStatement(db, { userId: owner.id, type: "sign_in_failed", method: "code", client: deps.client })] : []),
  ]);
  if (owner && !owner.isGuest) drainSoon(deps, owner.id);
  throw invalidCode();
}

/** A full account for the proven address: no password, address verified. Loses gracefully to a concurrent registration. */
async function signUp(deps: Deps, db: DrizzleD1Database, typed: string, now: number): Promise<UserRow> {
  const email = typed.trim();
  const id = crypto.randomUUID();
  const created = userEvent(db, "user.created", id, { at: now, onlyIf: previousChanged });
  const [, event] = await db.batch([
    db
      .insert(users)
      .values({ id, email, emailNormalized: normalizeEmail(email), isGuest: false, emailVerifiedAt: now, createdAt: now, updatedAt: now })
      .onConflictDoNothing(),
    created.statement,
  ]);
  if (event.meta.changes === 1) publish(deps, created);
  const user = await db.select().from(users).where(eq(users.emailNormalized, normalizeEmail(email))).get();
  if (!user) throw invalidCode();
  return user;
}

/**
 * Marks the address verified and starts the session. An address that was not verified until now
 * may have been registered by someone else (account pre-hijacking): the owner's proof drops what
 * was attached meanwhile, the password included (src/accounts/address-proven.ts); the session
 * this code starts comes after, and stays.
 */
async function signInOwner(deps: Deps, db: DrizzleD1Database, owner: UserRow, now: number, spend: SpentProof): Promise<IssuedPair> {
  if (owner.emailVerifiedAt === null && owner.disabledAt === null) {
    const proof = { userId: owner.id, emailNormalized: owner.emailNormalized!, now, client: deps.client, onlyIf: userMatches(db, owner.id, { enabled: true }) };
    const handedOver = changesHands(db, proof);
    const verified = userEvent(db, "user.updated", owner.id, { at: now, onlyIf: previousChanged });
    const statements = [
      ...addressProvenStatements(db, proof),
      activityStatement(db, { userId: owner.id, type: "email_verified", client: deps.client, at: now }, handedOver),
      db.update(users).set({ emailVerifiedAt: now, updatedAt: now }).where(and(eq(users.id, owner.id), handedOver)),
      // Right after the update, so `previousChanged` sees whether it happened.
      verified.statement,
    ];
    const results = await changeUser(deps, owner.id, () => db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]));
    if ((results[results.length - 1] as D1Result).meta.changes === 1) publish(deps, verified);
  }
  const pair = await signIn(deps, { userId: owner.id, method: "code", spend });
  if (pair) return pair;
  if (await userIsDisabled(db, owner.id)) throw new AuthError("account_disabled", "This account is disabled");
  throw invalidCode();
}

/** Deletes codes that expired before `before` (ms): the daily clean-up's part (src/maintenance). */
export function purgeCodesStatement(db: DrizzleD1Database, before: number) {
  return db.delete(emailCodes).where(lt(emailCodes.expiresAt, before));
}
