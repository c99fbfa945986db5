/**
 * Versioned schemas for a Durable Object's own SQLite storage. The version lives in the object's
 * storage (table `schema_version`, one row); migrations are numbered by their position in the list
 * (the first is version 1) and only those past the stored version run, each in one transaction
 * with the version bump, so an object never holds half a migration. Objects call `migrate` in their
 * constructor inside `ctx.blockConcurrencyWhile`, so no request sees a schema mid-change.
 *
 * Version 1 of each object is its original schema written with `IF NOT EXISTS`, so objects created
 * before versioning (tables present, no version row) adopt it without losing data.
 *
 * @example
 * const MIGRATIONS: Migration[] = [(sql) => sql.exec("CREATE TABLE IF NOT EXISTS hits (at INTEGER)")];
 * ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
 */

/** One step of an object's schema: synchronous SQL only, run inside a transaction. */
export type Migration = (sql: SqlStorage) => void;

/** The schema version stored in the object, 0 for an object that never ran `migrate`. */
export function schemaVersion(sql: SqlStorage): number {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  return sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
}

/**
 * Applies the migrations past the stored version, in order, and returns the version the storage is
 * at. A failing migration throws and leaves the last completed version stored. A stored version
 * newer than `migrations` (code rolled back after a deployment migrated the object) is left as it
 * is: migrations are additive (new tables, new nullable columns), so the older code still works.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly Migration[]): number {
  const current = schemaVersion(storage.sql);
  if (current >= migrations.length) return current;
  for (let version = current + 1; version <= migrations.length; version++) {
    storage.transactionSync(() => {
      migrations[version - 1]!(storage.sql);
      storage.sql.exec("DELETE FROM schema_version");
      storage.sql.exec("INSERT INTO schema_version (version) VALUES (?)", version);
    });
  }
  return migrations.length;
}
