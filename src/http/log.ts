/**
 * One JSON object per line on the console, which Workers Logs indexes. Callers pass only fields
 * that are safe to keep: ids, routes, statuses, masked emails. Never a password, token or hash.
 *
 * @example
 * import { log } from "./log";
 * log("warn", "mail.failed", { requestId, transport: "http", status: 502 });
 */
export type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, time: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
