-- The auth service's webhooks this app has handled (API.md §16, src/events.ts): one row per
-- `webhook-id`, written in the same D1 batch as the work the event caused, so a repeated delivery
-- (at least once) changes nothing. `claim` is the random token of the delivery that wrote the row:
-- the batch's later statements run only where their own claim holds. `user_id` is the event's
-- subject (`data.user.id`), so a `user.merged` that arrives after its account's `user.deleted`
-- erases what it would move. Rows older than the feed's 30 days are pruned daily (src/index.ts).
CREATE TABLE processed_events (
  id TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL,
  user_id TEXT,
  sequence INTEGER NOT NULL,
  claim TEXT NOT NULL,
  processed_at INTEGER NOT NULL
);
CREATE INDEX processed_events_user ON processed_events (user_id, type);
CREATE INDEX processed_events_processed ON processed_events (processed_at);
