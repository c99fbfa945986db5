/**
 * The verification mail of register, upgrade and resend-verification (API.md §7): a single-use
 * `verify_email` token (VERIFY_TOKEN_TTL_HOURS) and a link to `/verify-email` on the service's own
 * pages, or on the app's when the request named one (`baseUrl` on REDIRECT_ORIGINS, or a configured
 * `clientAlias`, the rules of forgot-password and email codes). A named app's page is also stored
 * with the token as the verification page's way back (`returnUrl`), as a reset's is.
 *
 * @example
 * const base = verificationBase(deps, { clientAlias: "IOS" }); // 400 for an unknown alias
 * const { token, statements } = await verificationToken(deps, db, userId, email, undefined, { clientAlias: "IOS" });
 * await db.batch([insertUser, ...statements]);
 * sendMail(deps, verificationMailTo(deps, email, token, base));
 */
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Deps } from "../http/deps";
import { linkBase, pageLink } from "../mail/links";
import type { LinkOptions } from "../mail/links";
import { verificationMail } from "../mail/templates";
import { createTokenStatements } from "../one-time-tokens";

/** The base of the link: the service's own pages, or the app's the options name; 400 for one not allowed. */
export const verificationBase = (deps: Deps, options: LinkOptions = {}): string => linkBase(deps.config, deps.origin, options);

/** The mail to `to` holding `token`, its link on `base` (the service's own pages when left out). */
export function verificationMailTo(deps: Deps, to: string, token: string, base = verificationBase(deps)) {
  const link = pageLink(base, "/verify-email", { token, email: to });
  return verificationMail({ to, platformName: deps.config.platformName, link, hours: Math.round(deps.config.verifyTokenTtlMs / 3_600_000) });
}

/** The statements that void older verification tokens and store a new one (src/one-time-tokens), for the caller's batch. */
export function verificationToken(deps: Deps, db: DrizzleD1Database, userId: string, email: string, onlyIf?: SQL, options: LinkOptions = {}) {
  const named = options.baseUrl !== undefined || options.clientAlias !== undefined;
  const brand = { returnUrl: named ? verificationBase(deps, options) : null };
  return createTokenStatements(db, { userId, email, purpose: "verify_email", ttlMs: deps.config.verifyTokenTtlMs, onlyIf, brand });
}
