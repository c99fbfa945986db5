import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** From the WORKER_LOGS environment variable (vitest.config.ts): "1" prints the Worker's log lines. */
    WORKER_LOGS: string;
  }
}

/**
 * The Worker's own log lines (src/http/log.ts: one JSON object per line, `{"level":…}`) are dropped
 * in tests unless `WORKER_LOGS=1`; every other console line prints.
 *
 * Why here and not in Vitest: vitest.config.ts turns Vitest's console interception off for the
 * workers project (`disableConsoleIntercept`). With it on, a line logged from another I/O context
 * (a request reached through `SELF`, a Durable Object, a queue consumer, a `waitUntil` task such as
 * the `mail.sent` line after a response) is parked by @cloudflare/vitest-plugin 1.4.10 until the
 * runner's next message; when it lands after a file's last one, Vitest waits for it forever and the
 * run stalls with idle CPU (cloudflare/workers-sdk#15498, #15719). Without interception the lines go
 * straight to workerd's stdout, so they are filtered here to keep a green run readable. Tests that
 * assert on logs spy on `console` (test/helpers/http.ts `captureLogs`), which works on top of this.
 */
const QUIET = Symbol.for("edge-auth.quiet-console");
if (inject("WORKER_LOGS") !== "1" && !(globalThis as Record<symbol, unknown>)[QUIET]) {
  (globalThis as Record<symbol, unknown>)[QUIET] = true;
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    const print = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      if (args.length === 1 && typeof args[0] === "string" && args[0].startsWith('{"level":')) return;
      print(...args);
    };
  }
}

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
