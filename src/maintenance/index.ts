/**
 * Daily clean-up (a cron trigger): drops what no request can use any more, so D1 does not grow
 * with dead rows. Expired counters (every window is at most a day), spent or expired one-time
 * tokens, sessions ended more than 30 days ago, dev outbox mail older than a week, and expired
 * web sign-in states and one-time codes.
 *
 * @example
 * // wrangler.toml: [triggers] crons = ["17 3 * * *"]
 * export default { fetch: app.fetch, scheduled: (_event, env) => purgeExpired(env.DB) };
 */
import { and, isNotNull, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { counters, mailOutbox, oauthCodes, oauthStates, oneTimeTokens, sessions } from "../db/schema";

const DAY = 86_400_000;

export async function purgeExpired(db: D1Database, now = Date.now()): Promise<number> {
  const d = drizzle(db);
  const results = await d.batch([
    d.delete(counters).where(lt(counters.windowStart, now - DAY)),
    d.delete(oneTimeTokens).where(or(lt(oneTimeTokens.expiresAt, now - DAY), lt(oneTimeTokens.usedAt, now - DAY))),
    d.delete(sessions).where(
      or(
        and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, now - 30 * DAY)),
        and(isNotNull(sessions.expiresAt), lt(sessions.expiresAt, now - 30 * DAY)),
      ),
    ),
    d.delete(mailOutbox).where(lt(mailOutbox.createdAt, now - 7 * DAY)),
    // Web sign-ins never finished (10 minutes) and one-time codes never exchanged (60 s).
    d.delete(oauthStates).where(lt(oauthStates.expiresAt, now)),
    d.delete(oauthCodes).where(lt(oauthCodes.expiresAt, now)),
  ]);
  return results.reduce((sum, r) => sum + r.meta.changes, 0);
}
