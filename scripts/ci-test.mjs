#!/usr/bin/env node
/**
 * `.ci/run`'s test step: `npm test` (the README's command) with the JSON report CI counts, under a
 * watchdog. Vitest runs used to stall now and then (idle CPU, no test timeout firing): a log line
 * parked by @cloudflare/vitest-plugin 1.4.10 past a file's last message (workers-sdk#15498,
 * #15719), fixed here by turning Vitest's console interception off (docs/testing.md). The guard
 * stays for whatever else could hang a run: rather than wait for CI's 90-minute limit, a run that
 * prints nothing for STALL_SECONDS (default 300: longer than any test's own wait) is stopped, its
 * last lines printed, and the whole suite run once more. A failing test is never retried: only a
 * run that stalled is. Exits with the last run's status.
 *
 * @example
 * node scripts/ci-test.mjs                     # as .ci/run does
 * STALL_SECONDS=600 node scripts/ci-test.mjs   # a slower machine
 */
import { spawn } from "node:child_process";

const stallMs = Number(process.env.STALL_SECONDS ?? 300) * 1000;
const args = ["test", "--", "--reporter=default", "--reporter=json", "--outputFile.json=test-results/vitest.json"];

/** One run of `npm test`; resolves to its exit status, or "stalled". */
function run() {
  return new Promise((resolve) => {
    const child = spawn("npm", args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let last = Date.now();
    let tail = "";
    const seen = (chunk, out) => {
      last = Date.now();
      out.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", (chunk) => seen(chunk, process.stdout));
    child.stderr.on("data", (chunk) => seen(chunk, process.stderr));
    const watchdog = setInterval(() => {
      if (Date.now() - last < stallMs) return;
      clearInterval(watchdog);
      console.log(`\nci-test: no output for ${stallMs / 1000} s: the run stalled; stopping it. Its last lines:\n${tail.slice(-1500)}`);
      try {
        process.kill(-child.pid, "SIGKILL"); // the whole process group: vitest, workerd, wrangler
      } catch {}
      resolve("stalled");
    }, 5_000);
    child.on("exit", (code) => {
      clearInterval(watchdog);
      resolve(code ?? 1);
    });
  });
}

let status = await run();
if (status === "stalled") {
  console.log("ci-test: running the whole suite once more");
  status = await run();
  if (status === "stalled") status = 1;
}
process.exit(status);
