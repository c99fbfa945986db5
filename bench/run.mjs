#!/usr/bin/env node
/**
 * `npm run bench`: serves the floor worker and the service with wrangler's `unstable_startWorker`
 * (bench/serve.mjs: no inspector, no file watching) on fresh state directories, prepares users the
 * way a client would, drives bounded closed-loop load on loopback, checks correctness under load,
 * and writes the table to bench/results/ and BENCHMARKS.md. The feature routes of API.md §9–§13
 * run when the service has them (bench/features.mjs) and are listed as "route absent" otherwise.
 *
 * Ports 8788 (loopback OpenID provider), 8790 (service), 8792 (floor), 8794 (default-limits service).
 * A full run takes about 5 minutes on 2 CPUs. Settings (environment): BENCH_CONNECTIONS (32),
 * BENCH_SECONDS (measured seconds per scenario, 8), BENCH_ROUNDS (3: each scenario's time is split
 * into rounds spread over the run, so background load hits every scenario alike; CPU per request
 * is the median over rounds), BENCH_WARMUP_MS (1000, per scenario and round, not counted),
 * BENCH_SINGLE_USE (8: single-use inputs, codes and passkey challenges, prepared per client and round).
 *
 * @example
 * npm run bench
 * BENCH_SECONDS=4 BENCH_ROUNDS=1 npm run bench   # a quick look
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { gzipSync } from "node:zlib";
import { addresses, login, prepareUsers } from "./accounts.mjs";
import { rateLimitStorms, refreshStorm } from "./correctness.mjs";
import { timingParity, unverifiedEmails } from "./timing.mjs";
import { load, merge } from "./driver.mjs";
import { cpuByProcess, cpuDelta, cpuDeltaByRole, killAllSync, snapshot, startFloor, startService, stop, stopAll } from "./processes.mjs";
import { FEATURE_VARS, featureScenarios } from "./features.mjs";
import { budgets, featureBudgets, machine, ratios, renderMarkdown, writeResults } from "./report.mjs";
import { floorScenarios, serviceScenarios } from "./scenarios.mjs";
import { runEventsBench } from "./events.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const settings = {
  connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
  seconds: Number(process.env.BENCH_SECONDS ?? 8),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 1000),
  singleUse: Number(process.env.BENCH_SINGLE_USE ?? 8),
};
const REUSE_WINDOW_SECONDS = 1;
/**
 * Limits raised so the warm pool never hits them. The hour-long window keeps the limiter objects'
 * clean-up alarms (due one window after a hit) out of the run: thousands of fresh-IP objects would
 * otherwise all wake up during later scenarios.
 */
const RAISED = "1000000/3600";
const DEFAULT_LIMITS = { guest: 5, login: 5, refresh: 5, sessions: 60, accountFailures: 10 };
/** Scenarios in the order each round runs them: every ratio's two sides next to each other. */
const ORDER = [
  "floor.d1", "ref.verify", "me", "floor.do", "ref.dowrite", "ref.dowrite.new", "ref.d1write", "ref.sign",
  "refresh.warm", "refresh.fresh", "floor.pbkdf2", "login.warm", "login.fresh",
  "floor.json", "ref.log", "stack", "floor.guest", "guest.warm", "guest.fresh", "sessions.warm", "sessions.fresh",
];

const log = (message) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

process.on("exit", killAllSync);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await stopAll();
    process.exit(130);
  });
}

/** As `npm run check:bundle` measures it, but of the snapshot and into the run's own directory. */
function bundleSize(cwd, outdir) {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], { cwd, stdio: "ignore" });
  const files = readdirSync(outdir).filter((f) => f.endsWith(".js")).map((f) => readFileSync(`${outdir}/${f}`));
  const raw = files.reduce((sum, b) => sum + b.length, 0);
  const gzip = files.reduce((sum, b) => sum + gzipSync(b, { level: 9 }).length, 0);
  return `${(gzip / 1024).toFixed(1)} KiB gzip (${(raw / 1024).toFixed(1)} KiB raw) against a budget of 400 KiB gzip: ${gzip <= 400 * 1024 ? "within" : "OVER"}`;
}

/** The commit measured, and whether the worker's files differed from it when the snapshot was taken. */
function codeVersion() {
  const git = (...args) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  try {
    const dirty = git("status", "--porcelain", "--", "src", "migrations", "wrangler.toml", "package.json");
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? ` with uncommitted changes to ${dirty.split("\n").length} file(s)` : ""}`;
  } catch {
    return "unknown";
  }
}

async function prepare(agent, url, c) {
  log(`preparing ${3 * c + 8} verified users`);
  const [readers, loginUsers, chainUsers, stormUsers] = [
    await prepareUsers(agent, url, c, "reader"),
    await prepareUsers(agent, url, c, "login"),
    await prepareUsers(agent, url, c, "chain"),
    await prepareUsers(agent, url, 8, "storm"),
  ];
  const state = { loginUsers, readers: [], chains: [] };
  for (const user of readers) {
    const pair = await login(agent, url, user, addresses.fresh());
    state.readers.push({ id: user.id, accessToken: pair.accessToken, sessionId: pair.sessionId });
  }
  for (const user of chainUsers) {
    const pair = await login(agent, url, user, addresses.fresh());
    state.chains.push({ id: user.id, refreshToken: pair.refreshToken, rotations: 0 });
  }
  const stormPairs = [];
  for (const user of stormUsers) stormPairs.push(await login(agent, url, user, addresses.fresh()));
  return { state, stormPairs };
}

async function main() {
  const started = Date.now();
  const tmp = mkdtempSync(`${os.tmpdir()}/edge-auth-bench-`);
  const run = {
    startedAt: new Date(started).toISOString(),
    settings: `${settings.connections} concurrent clients, ${settings.seconds} s measured per scenario in ${settings.rounds} round(s), ${settings.warmupMs} ms warm-up per round; raised limits ${RAISED}, reuse window ${REUSE_WINDOW_SECONDS} s`,
    machine: machine(),
  };
  const cwd = snapshot(`${tmp}/app`);
  run.code = codeVersion();
  log(`code ${run.code}, snapshot, state and logs in ${tmp}`);
  const agent = new http.Agent({ keepAlive: true });

  const [floor, service] = await Promise.all([
    startFloor({ cwd, port: 8792, persistTo: `${tmp}/floor`, log: `${tmp}/floor.log` }),
    startService({
      cwd, port: 8790, persistTo: `${tmp}/service`, log: `${tmp}/service.log`,
      vars: {
        RATE_LIMIT_GUEST: RAISED, RATE_LIMIT_LOGIN: RAISED, RATE_LIMIT_REFRESH: RAISED, RATE_LIMIT_SESSIONS: RAISED,
        REFRESH_REUSE_WINDOW_SECONDS: String(REUSE_WINDOW_SECONDS), ...FEATURE_VARS,
      },
    }),
  ]);
  log("floor worker and service are up");
  const { state, stormPairs } = await prepare(agent, service.url, settings.connections);
  log("probing and preparing the feature routes");
  const features = await featureScenarios(agent, service.url, state, settings.connections);
  run.absent = features.absent;
  for (const a of features.absent) log(`${a.name}: ${a.detail}`);

  const scenarios = Object.fromEntries(
    [...floorScenarios(floor.url), ...serviceScenarios(service.url, state, settings.connections), ...features.scenarios].map((s) => [s.key, s]),
  );
  const order = [...ORDER, ...features.scenarios.map((s) => s.key)];
  const perRound = Object.fromEntries(order.map((key) => [key, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    for (const key of order) {
      if (!scenarios[key]) continue;
      if (scenarios[key].prepare) {
        try {
          await scenarios[key].prepare(settings.connections * settings.singleUse);
        } catch (error) {
          run.absent.push({ name: scenarios[key].name, detail: `not run: preparing round ${round} failed (${String(error.message ?? error).slice(0, 200)})` });
          log(`${scenarios[key].name}: preparing failed: ${error.message ?? error}`);
          delete scenarios[key];
          continue;
        }
      }
      const result = await load({
        ...scenarios[key],
        connections: settings.connections,
        // Single-use inputs are few: a short warm-up leaves most of them for the measured window.
        warmupMs: scenarios[key].prepare ? Math.min(settings.warmupMs, 200) : settings.warmupMs,
        durationMs: (settings.seconds * 1000) / settings.rounds,
        cpu: { read: () => cpuByProcess(scenarios[key].url === floor.url ? floor : service), delta: cpuDelta, byRole: cpuDeltaByRole },
      });
      perRound[key].push(result);
      log(`round ${round}: ${scenarios[key].name.padEnd(34)} ${result.rps.toFixed(1).padStart(7)} req/s  p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  cpu ${(result.serverCpuMs / result.requests).toFixed(2)} ms/req  wrong ${result.failures + result.errors}  load ${os.loadavg()[0].toFixed(2)}`);
    }
  }
  const measured = order.filter((key) => scenarios[key] && perRound[key].length > 0);
  run.results = Object.fromEntries(measured.map((key) => [key, merge(perRound[key])]));
  run.names = Object.fromEntries(measured.map((key) => [key, scenarios[key].name]));
  run.ratios = ratios(run.results, settings.connections);
  run.budgets = budgets(run.results);
  run.featureBudgets = featureBudgets(run.results);
  await features.close();

  const wrong = measured.filter((key) => run.results[key].failures + run.results[key].errors > 0);
  run.checks = [
    {
      name: "every answer under load was right (status and content; each refresh-chain answer a new token of the same user)",
      pass: wrong.length === 0,
      detail: wrong.length === 0 ? `${measured.reduce((sum, key) => sum + run.results[key].requests, 0)} answers checked` : `wrong answers in: ${wrong.join(", ")}`,
    },
  ];
  log("refresh storm");
  run.checks.push(...(await refreshStorm(agent, service.url, stormPairs, { perToken: 8, windowMs: REUSE_WINDOW_SECONDS * 1000 })));
  log("timing parity: existing vs unknown accounts");
  const unverified = await unverifiedEmails(agent, service.url, state.loginUsers.length);
  run.checks.push(...(await timingParity(agent, service.url, { verified: state.loginUsers, unverified })));
  await stop(service);

  log("rate-limit storms against a service with the default limits");
  const strict = await startService({ cwd, port: 8794, persistTo: `${tmp}/service-defaults`, log: `${tmp}/service-defaults.log` });
  const users = await prepareUsers(agent, strict.url, 3, "limits");
  run.checks.push(...(await rateLimitStorms(agent, strict.url, users, DEFAULT_LIMITS)));
  await stop(strict);
  await stop(floor);
  agent.destroy();

  log("bundle size");
  run.bundle = bundleSize(cwd, `${tmp}/dist`);
  run.loadAverageAtEnd = os.loadavg().map((n) => n.toFixed(2)).join(" ");
  run.elapsedSeconds = Math.round((Date.now() - started) / 1000);
  const markdown = renderMarkdown(run);
  const file = writeResults(run, markdown);
  console.log(`\n${markdown}\n`);
  log(`written to ${file} and BENCHMARKS.md; wrangler logs in ${tmp}`);
  // API.md §16: what the outbox adds to a sign-up and a deletion, and the consumer's throughput
  // (bench/events.mjs; its table goes to bench/results/events.json and the console).
  log("events: outbox cost and consumer throughput");
  await runEventsBench();
  return run.checks.every((c) => c.pass);
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error) => {
    console.error(error);
    await stopAll();
    process.exit(2);
  },
);
