/**
 * Daily clean-up (a cron trigger): drops what no request can use any more, so D1 does not grow
 * with dead rows. Expired counters (every window is at most a day), spent or expired one-time
 * tokens, sessions ended more than 30 days ago, dev outbox mail older than a week, activity events
 * older than ACTIVITY_RETENTION_DAYS, and expired web sign-in states and codes, WebAuthn challenges
 * and email codes. Each statement comes from the folder that owns its table.
 *
 * @example
 * // wrangler.toml: [triggers] crons = ["17 3 * * *"]
 * export default { fetch: app.fetch, scheduled: (_event, env) => purgeExpired(env.DB) };
 */
import { drizzle } from "drizzle-orm/d1";
import { purgeOutboxStatement } from "../mail";
import { purgeTokensStatement } from "../one-time-tokens";
import { purgeCountersStatement } from "../rate-limit";
import { purgeEndedSessionsStatement } from "../sessions/statements";
import { purgeActivityStatement } from "../activity";
import { purgeSignInStatesStatements } from "../identities/purge";
import { purgeChallengesStatement } from "../passkeys/challenges";
import { purgeCodesStatement } from "../email-codes";

const DAY = 86_400_000;

/** `activityRetentionMs`: ACTIVITY_RETENTION_DAYS (API.md §9), 90 days by default. */
export async function purgeExpired(db: D1Database, now = Date.now(), activityRetentionMs = 90 * DAY): Promise<number> {
  const d = drizzle(db);
  const results = await d.batch([
    purgeCountersStatement(d, now - DAY),
    purgeTokensStatement(d, now - DAY),
    purgeEndedSessionsStatement(d, now - 30 * DAY),
    purgeOutboxStatement(d, now - 7 * DAY),
    purgeActivityStatement(d, now - activityRetentionMs),
    // Web sign-ins never finished (10 minutes) and one-time codes never exchanged (60 s).
    ...purgeSignInStatesStatements(d, now),
    purgeChallengesStatement(d, now),
    purgeCodesStatement(d, now),
  ]);
  return results.reduce((sum, r) => sum + r.meta.changes, 0);
}
