/**
 * Daily clean-up (a cron trigger): drops what no request can use any more, so D1 does not grow
 * with dead rows. Expired counters (every window is at most a day), spent or expired one-time
 * tokens, sessions ended more than 30 days ago, dev outbox mail older than a week, activity events
 * older than ACTIVITY_RETENTION_DAYS, events older than EVENT_RETENTION_DAYS, and expired web sign-in states and codes, WebAuthn challenges
 * and email codes. Each statement comes from the folder that owns its table. Then dead guests (no
 * live session for GUEST_RETENTION_DAYS, src/deletion/guests.ts): at most 100 a run, oldest first,
 * each deleted like an account (`deleteAccount`: its rows and its user object's storage).
 *
 * @example
 * // wrangler.toml: [triggers] crons = ["17 3 * * *"]
 * export default { fetch: app.fetch, scheduled: (_event, env) => purgeExpired(env, Date.now(), loadConfig(env)) };
 */
import { drizzle } from "drizzle-orm/d1";
import { purgeOutboxStatement } from "../mail";
import { purgeTokensStatement } from "../one-time-tokens";
import { purgeCountersStatement } from "../rate-limit";
import { purgeEndedSessionsStatement } from "../sessions/statements";
import { purgeSessionOwnersStatement } from "../sessions/owner";
import { purgeActivityStatement } from "../activity";
import { purgeSignInStatesStatements } from "../identities/purge";
import { purgeChallengesStatement } from "../passkeys/challenges";
import { purgeCodesStatement } from "../email-codes";
import { purgeEventsStatement } from "../events/feed";
import { purgeMfaStatements } from "../mfa/statements";
import type { Config } from "../config";
import { GUESTS_PER_RUN, pruneDeadGuests } from "../deletion/guests";
import type { Deps } from "../http/deps";

const DAY = 86_400_000;

/**
 * Runs the clean-up at `now` (ms) and returns how many rows and guests it removed. `config` gives
 * ACTIVITY_RETENTION_DAYS (90 days without it) and GUEST_RETENTION_DAYS; without a config (it does
 * not load) the rows are purged all the same and no guest is deleted. `guestsPerRun` bounds the
 * guests deleted by one run.
 */
export async function purgeExpired(env: Env, now = Date.now(), config?: Config, guestsPerRun = GUESTS_PER_RUN): Promise<number> {
  const d = drizzle(env.DB);
  const activityRetentionMs = config?.activityRetentionMs ?? 90 * DAY;
  const results = await d.batch([
    purgeCountersStatement(d, now - DAY),
    purgeTokensStatement(d, now - DAY),
    purgeEndedSessionsStatement(d, now - 30 * DAY),
    // The owners of sessions older than slice 9 whose rows are gone now (src/sessions/owner.ts).
    purgeSessionOwnersStatement(d),
    purgeOutboxStatement(d, now - 7 * DAY),
    purgeActivityStatement(d, now - activityRetentionMs),
    // Web sign-ins never finished (10 minutes) and one-time codes never exchanged (60 s).
    ...purgeSignInStatesStatements(d, now),
    purgeChallengesStatement(d, now),
    purgeCodesStatement(d, now),
    // Second-factor sign-ins never completed (5 minutes) and enrolments never activated (15 minutes).
    ...purgeMfaStatements(d, now),
    // Events (and their deliveries) past EVENT_RETENTION_DAYS (30 without a config).
    purgeEventsStatement(d, now - (config?.eventRetentionMs ?? 30 * DAY)),
  ]);
  const purged = results.reduce((sum, r) => sum + r.meta.changes, 0);
  if (!config) return purged;
  // The Deps of a request, for a caller that is no request; mail (none for a guest) is awaited here.
  const pending: Promise<unknown>[] = [];
  const deps: Deps = {
    env,
    config,
    client: { ipAddress: null, userAgent: null },
    requestId: crypto.randomUUID(),
    origin: config.publicUrl,
    waitUntil: (promise) => void pending.push(promise),
  };
  const guests = await pruneDeadGuests(deps, now, config.guestRetentionMs, guestsPerRun);
  await Promise.allSettled(pending);
  return purged + guests;
}
