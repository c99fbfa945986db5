#!/usr/bin/env node
/**
 * `npm run check:dev-vars`: proves that `npm test` ignores the developer's local variables (issue 26
 * item 5). It puts a hostile `.dev.vars` in the checkout (some limits raised to 1000, others lowered
 * to 1, a password pepper, a Turnstile secret, a sentinel, a production ENVIRONMENT), sets CLOUDFLARE_INCLUDE_PROCESS_ENV
 * (which makes Wrangler copy the whole shell into the bindings) with a sentinel in the shell, and runs
 * the tests that count limits: test/config/dev-vars-ignored.test.ts and
 * test/rate-limit/rate-limits.test.ts (project `workers`), test/sdk/client.test.ts and
 * test/sdk/refresh.test.ts (project `sdk`, whose service wrangler's `unstable_startWorker` starts). The developer's own `.dev.vars`, if any, is set aside first and
 * put back afterwards, whatever happens. Exits with vitest's status.
 *
 * Without the isolation of scripts/test-wrangler-config.mjs, 34 tests of test/rate-limit/ fail with
 * the raised limits the README used to advise; without the sdk service's `envFiles`, 2 of the 17
 * SDK tests fail with limits lowered to 1.
 *
 * @example
 * npm run check:dev-vars                         # as CI runs it (.ci/run)
 * flock /tmp/vitest.lock npm run check:dev-vars  # beside other vitest runs on a shared machine
 */
import { spawnSync } from "node:child_process";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";

const DEV_VARS = ".dev.vars";
const BACKUP = `.dev.vars.check-backup-${process.pid}`;
const HOSTILE = [
  "# Written by scripts/check-dev-vars-ignored.mjs; the tests must not see any of it.",
  "EDGE_AUTH_DEV_VARS_SENTINEL=1",
  "ENVIRONMENT=production",
  "PASSWORD_PEPPER=a-pepper-the-tests-never-set-0123456789abcdef",
  // Cloudflare's always-passing test secret: read, it would turn Turnstile on for every test.
  "TURNSTILE_SECRET_KEY=1x0000000000000000000000000000000AA",
  "RATE_LIMIT_GUEST=1000/3600",
  "RATE_LIMIT_LOGIN=1/3600",
  "RATE_LIMIT_REFRESH=1000/60",
  "RATE_LIMIT_SIGNOUT=1/3600",
  "RATE_LIMIT_REGISTER=1000/3600",
  "RATE_LIMIT_UPGRADE=1/3600",
  "RATE_LIMIT_RESET=1000/60",
  "RATE_LIMIT_CODE=1/3600",
  "RATE_LIMIT_RECOVERY=1000/3600",
  "RATE_LIMIT_RECOVERY_PER_EMAIL=1/3600",
  "RATE_LIMIT_ACCOUNT_LOGIN_FAILURES=1000/900",
  "RATE_LIMIT_SESSIONS=1/3600",
  "",
].join("\n");

const hadOwn = existsSync(DEV_VARS);
if (hadOwn) renameSync(DEV_VARS, BACKUP);
const restore = () => {
  rmSync(DEV_VARS, { force: true });
  if (hadOwn && existsSync(BACKUP)) renameSync(BACKUP, DEV_VARS);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    restore();
    process.exit(1);
  });
}

let status = 1;
try {
  writeFileSync(DEV_VARS, HOSTILE, { mode: 0o600 });
  const env = {
    ...process.env,
    CI: "true",
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    CLOUDFLARE_INCLUDE_PROCESS_ENV: "true",
    EDGE_AUTH_SHELL_SENTINEL: "1",
  };
  const runs = [
    ["--project", "workers", "test/config/dev-vars-ignored.test.ts", "test/rate-limit/rate-limits.test.ts"],
    // The SDK's service (scripts/sdk-test-service.mjs) is started by wrangler's unstable_startWorker.
    ["--project", "sdk", "test/sdk/client.test.ts", "test/sdk/refresh.test.ts"],
  ];
  status = 0;
  for (const args of runs) {
    const run = spawnSync("npx", ["vitest", "run", ...args], { stdio: "inherit", env });
    if (run.status !== 0) status = run.status ?? 1;
  }
} finally {
  restore();
}
console.log(status === 0 ? "check:dev-vars: npm test ignores .dev.vars and the shell" : "check:dev-vars: FAILED");
process.exit(status);
