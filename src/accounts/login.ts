/**
 * Password login (API.md §3, on every door: `/v1/auth/login` and the two older ones), read top to
 * bottom in one function: the attempt is reserved against the account (src/rate-limit/login-attempt.ts:
 * the count read in one D1 batch with the user's row, the check gated in the account's Durable Object), the password checked (./passwords), the refusals answered, and then the
 * one sign-in funnel every method ends in (src/sessions/issue.ts `signIn`) decides between a session
 * and 403 `mfa_required` (API.md §15), so a password sign-in cannot skip a second factor. A correct
 * password under an outdated hash is re-hashed after the sign-in.
 *
 * Stops on the way to a TokenPair: route → `login` → `reserveLoginAttempt` → `verifyPassword` →
 * `signIn` → `tokenPair`, each entered once (docs/second-factor.md, "One funnel").
 *
 * @example
 * import { login } from "./login";
 * const pair = await login(deps, { email: "a@example.com", password: "…" });        // or 403 mfa_required
 * const merged = await login(deps, { username: "ann", password: "…" }, guestAuth);  // merges the guest (§16)
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { users } from "../db/schema";
import type { UserRow } from "../db/schema";
import { passwordHashIs } from "./password-column";
import type { Deps } from "../http/deps";
import { AuthError, MfaRequiredError } from "../http/errors";
import { reserveLoginAttempt } from "../rate-limit/login-attempt";
import { signIn } from "../sessions/issue";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../types";
import { hashOptions, hashPassword, verifyPassword } from "./passwords";
import { userIsDisabled } from "./statements";
import { changeUser } from "./change-user";
import { normalizeEmail } from "./users";

export interface LoginInput {
  email?: string | undefined;
  username?: string | undefined;
  password: string;
}

const invalidCredentials = () => new AuthError("invalid_credentials", "The email, username or password is incorrect");
const accountDisabled = () => new AuthError("account_disabled", "This account is disabled");

/**
 * Password login by email or username. The attempt is counted against the account before the hash
 * is checked (§6); unknown accounts cost the same hashing time and get the same 401. A guest's
 * `caller` is merged into the account (API.md §16: at once, or by `mfa/verify` when a second factor
 * is asked for); any other caller is ignored. Errors: 401 `invalid_credentials`, 403
 * `account_disabled`, `email_not_verified` or `mfa_required` (with its `mfaToken`), 429.
 */
export async function login(deps: Deps, input: LoginInput, caller?: Auth): Promise<IssuedPair> {
  const identifier = normalizeEmail(input.email ?? input.username ?? "");
  const db = drizzle(deps.env.DB);
  const byIdentifier = input.email !== undefined ? eq(users.emailNormalized, identifier) : eq(users.usernameNormalized, identifier);
  // The password's derive overlaps the gate's call; its answer is used only once the check is reserved.
  const attempt = await reserveLoginAttempt(deps, identifier, db.select().from(users).where(byIdentifier).limit(1), (found) => found[0]?.id, (found) =>
    verifyPassword(input.password, found[0]?.passwordHash, hashOptions(deps)),
  );
  const user = attempt.found[0];
  try {
    const { valid, needsRehash } = attempt.checked;
    if (!user || !valid) {
      // API.md §9: sign_in_failed for existing accounts only; the failure is counted in the same batch.
      await attempt.fail(user ? [activityStatement(db, { userId: user.id, type: "sign_in_failed", method: "password", client: deps.client })] : []);
      throw invalidCredentials();
    }
    if (user.disabledAt !== null) {
      await attempt.fail();
      throw accountDisabled();
    }
    if (deps.config.requireEmailVerification && user.emailVerifiedAt === null) {
      // The password was right: it must not count as a failed attempt (docs/accounts.md, per-account throttling).
      await attempt.clear();
      throw new AuthError("email_not_verified", "Verify your email address before signing in");
    }
    const mergeGuest = caller?.user.isGuest ? caller.userId : undefined;
    // The funnel: the session starts only while the checked hash is still the account's (a reset
    // meanwhile wins), and its writes clear the account's count; or it stores the pending sign-in
    // and throws mfa_required, and the right password stays counted until the second factor succeeds.
    const first = await signIn(deps, { userId: user.id, method: "password", passwordHash: user.passwordHash!, attempt: attempt.handle, mergeGuest }).catch(async (error: unknown) => {
      if (error instanceof MfaRequiredError) await attempt.fail();
      throw error;
    });
    const pair = first ?? (await signInWithNewerHash(deps, user, input.password, mergeGuest));
    if (!pair) {
      await attempt.fail();
      throw invalidCredentials();
    }
    await attempt.succeeded();
    if (needsRehash) {
      // After the sign-in, whose guard names the old hash; a compare-and-set, so a reset meanwhile wins.
      const passwordHash = await hashPassword(input.password, hashOptions(deps));
      // Through changeUser: a sign-in started in the user's object checks the hash it kept (src/sessions/session-start.ts).
      await changeUser(deps, user.id, () => db.update(users).set({ passwordHash }).where(and(eq(users.id, user.id), passwordHashIs(users.passwordHash, user.passwordHash!))));
    }
    return pair;
  } finally {
    await attempt.release(); // nothing, when the attempt was ended above
  }
}

/**
 * The sign-in's guard did not hold: the account changed between the check and the sign-in. A
 * disable that landed meanwhile answers as one that came first (API.md §10: 403 `account_disabled`,
 * not 401 for a password that was right). Another login's upgrade of an outdated hash (a fresh
 * salt, the same password) must not fail this one; a reset or change to another password does not
 * verify, and wins. Null when it does not (401); the account's row is read once, with its state.
 */
async function signInWithNewerHash(deps: Deps, user: UserRow, password: string, mergeGuest?: string): Promise<IssuedPair | null> {
  const db = drizzle(deps.env.DB);
  const [current] = await db.select({ passwordHash: users.passwordHash, disabledAt: users.disabledAt }).from(users).where(eq(users.id, user.id));
  if (current?.disabledAt != null) throw accountDisabled();
  if (!current?.passwordHash || current.passwordHash === user.passwordHash) return null;
  if (!(await verifyPassword(password, current.passwordHash, hashOptions(deps))).valid) return null;
  const pair = await signIn(deps, { userId: user.id, method: "password", passwordHash: current.passwordHash, mergeGuest });
  if (!pair && (await userIsDisabled(db, user.id))) throw accountDisabled();
  return pair;
}
