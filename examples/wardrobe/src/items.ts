/**
 * The wardrobe's one table (migrations/0001_items.sql): items keyed by the auth service's user id.
 * Plain D1 statements; each function is one statement. `eraseItems` and `moveItems` return the
 * statement unrun, with a `Condition` of the caller's ANDed in, for a batch (src/events.ts: the
 * auth service's `user.deleted` and `user.merged`, run only by the delivery that claimed the event).
 *
 * @example
 * const item = await addItem(env.DB, userId, "Blue coat");   // { id, name, createdAt }
 * await listItems(env.DB, userId);                           // newest first
 * await env.DB.batch([claim, eraseItems(env.DB, userId, { sql: "EXISTS (…)", params: [id] })]);
 */

/** One clothing item as the API shows it. `createdAt` is ISO 8601. */
export interface Item {
  id: string;
  name: string;
  createdAt: string;
}

interface ItemRow {
  id: string;
  name: string;
  created_at: number;
}

const toItem = (row: ItemRow): Item => ({ id: row.id, name: row.name, createdAt: new Date(row.created_at).toISOString() });

/** The user's items, newest first. */
export async function listItems(db: D1Database, userId: string): Promise<Item[]> {
  const { results } = await db.prepare("SELECT id, name, created_at FROM items WHERE user_id = ? ORDER BY created_at DESC, id").bind(userId).all<ItemRow>();
  return results.map(toItem);
}

/** Adds an item for the user. */
export async function addItem(db: D1Database, userId: string, name: string): Promise<Item> {
  const row: ItemRow = { id: crypto.randomUUID(), name, created_at: Date.now() };
  await db.prepare("INSERT INTO items (id, user_id, name, created_at) VALUES (?, ?, ?, ?)").bind(row.id, userId, row.name, row.created_at).run();
  return toItem(row);
}

/** Removes the user's item; false when the user has no item of that id. */
export async function removeItem(db: D1Database, userId: string, id: string): Promise<boolean> {
  const result = await db.prepare("DELETE FROM items WHERE id = ? AND user_id = ?").bind(id, userId).run();
  return result.meta.changes > 0;
}

/** An SQL condition with its `?` parameters, in order; ANDed into a statement's WHERE. */
export interface Condition {
  sql: string;
  params: readonly unknown[];
}

/** The statement (unrun) that deletes every item of `userId` where `when` holds. */
export function eraseItems(db: D1Database, userId: string, when: Condition): D1PreparedStatement {
  return db.prepare(`DELETE FROM items WHERE user_id = ? AND ${when.sql}`).bind(userId, ...when.params);
}

/** The statement (unrun) that gives every item of `fromUserId` to `toUserId` where `when` holds. */
export function moveItems(db: D1Database, fromUserId: string, toUserId: string, when: Condition): D1PreparedStatement {
  return db.prepare(`UPDATE items SET user_id = ? WHERE user_id = ? AND ${when.sql}`).bind(toUserId, fromUserId, ...when.params);
}
