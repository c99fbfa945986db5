-- The wardrobe's own data: clothing items, keyed by the auth service's user id (API.md §3 `User.id`,
-- which stays the same through a guest's upgrade).
CREATE TABLE items (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX items_user_created ON items (user_id, created_at);
