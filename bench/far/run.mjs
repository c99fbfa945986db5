#!/usr/bin/env node
/**
 * `npm run bench:far`: the far-user simulation of issue 27. Serves the service twice through
 * bench/far/entry.ts with wrangler's `unstable_startWorker` (inspector off; bench/serve.mjs): **far**
 * (every D1 call waits 150 ms, the latency model's round trip to the primary from another continent)
 * and **near** (6 ms); in both, every Durable Object stub call waits 4 ms (an object near the caller).
 * Then, one request at a time (no queueing, no concurrency), for each route it alternates a far and
 * a near request, `BENCH_FAR_SAMPLES` (40) timed of each after 2 untimed, checks every answer, ends
 * each sign-in's session after it (untimed: the signer stays under the session limit), and reads the hops the wrappers counted (`x-bench-hops`). Then the capacity step (bench/far/capacity.mjs)
 * on the near service: D1 writes and rows per active user-hour under the usage profile, and D1 bytes
 * per account. Then the cost model (bench/far/cost.mjs). Writes bench/results/far-<time>.json and
 * .md, and ends with one line per route and placement, `far ROUTE p50 MS p99 MS` (milliseconds),
 * e.g. `far me p50 152.3 p99 160.8`.
 *
 * Times are loopback: the client's own leg to its nearest Cloudflare location (~20 ms in the model)
 * is not in them. The PBKDF2 floor (bench/floor-worker.ts) is timed the same way, since the login
 * target leaves PBKDF2 aside. Ports 8788 (OpenID provider), 8800 (far), 8802 (near), 8804 (floor).
 * Settings: BENCH_FAR_SAMPLES (40), BENCH_FAR_PARTS ("latency,capacity"), BENCH_FAR_D1_MS (150),
 * BENCH_NEAR_D1_MS (6), BENCH_FAR_DO_MS (4), BENCH_FAR_REPLICA_MS (10: a read through D1's Sessions API,
 * which the code before issue 27 never makes).
 *
 * @example
 * flock /tmp/vitest.lock npm run bench:far
 * BENCH_FAR_SAMPLES=10 BENCH_FAR_PARTS=latency npm run bench:far   # a quick look
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { send } from "../driver.mjs";
import { FEATURE_VARS, OIDC_CLIENT, OIDC_PORT } from "../features.mjs";
import { startProvider } from "../oidc-provider.mjs";
import { ROOT, killAllSync, snapshot, startFloor, startService, stopAll } from "../processes.mjs";
import { capacity } from "./capacity.mjs";
import { costModel } from "./cost.mjs";
import { renderFar } from "./report.mjs";
import { ROUTES, prepareRoutes } from "./routes.mjs";

const samples = Number(process.env.BENCH_FAR_SAMPLES ?? 40);
const parts = new Set((process.env.BENCH_FAR_PARTS ?? "latency,capacity").split(","));
const WARMUP = 2;
const RAISED = "1000000/3600";
const PLACEMENTS = [
  { name: "far", port: 8800, d1Ms: Number(process.env.BENCH_FAR_D1_MS ?? 150) },
  { name: "near", port: 8802, d1Ms: Number(process.env.BENCH_NEAR_D1_MS ?? 6) },
];
const DO_MS = Number(process.env.BENCH_FAR_DO_MS ?? 4);
/** A D1 read replica in the caller's region (Sessions-API reads only; the code before issue 27 makes none). */
const REPLICA_MS = Number(process.env.BENCH_FAR_REPLICA_MS ?? 10);

const log = (message) => console.log(`[bench:far ${new Date().toISOString().slice(11, 19)}] ${message}`);
const load = () => os.loadavg().map((n) => n.toFixed(2)).join(" ");

process.on("exit", killAllSync);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, async () => (await stopAll(), process.exit(130)));

/** The snapshot's config for the entry: the service's wrangler.toml with `main` pointed at bench/far/entry.ts. */
function farConfig(cwd) {
  cpSync(`${ROOT}bench/far`, `${cwd}/bench/far`, { recursive: true });
  const toml = readFileSync(`${cwd}/wrangler.toml`, "utf8").replace(/^main = .*$/m, 'main = "bench/far/entry.ts"').replace(/^name = .*$/m, 'name = "edge-auth-far"');
  if (!toml.includes('main = "bench/far/entry.ts"')) throw new Error("wrangler.toml has no main line to replace");
  writeFileSync(`${cwd}/wrangler.far.toml`, toml);
  return "wrangler.far.toml";
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const median = (values) => quantile([...values].sort((a, b) => a - b), 0.5);
const mean = (values) => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);

/** One timed request: milliseconds, whether the answer was right, and the hops the entry counted. */
async function timed(agent, url, route) {
  const request = route.request();
  if (!request) throw new Error("ran out of prepared inputs");
  const started = performance.now();
  const res = await send(agent, url, request);
  const ms = performance.now() - started;
  const ok = route.check(res);
  const hops = JSON.parse(res.headers["x-bench-hops"] ?? "null");
  // A sign-in's session is ended after it, untimed: the signer stays under MAX_SESSIONS_PER_USER, as a
  // typical user does (a 6th live session's eviction is a case of its own, not every sign-in's).
  if (route.endsSession && res.status === 200) await endSession(agent, url, res);
  return { ms, ok, hops, status: res.status };
}

/** Signs out the session a sign-in answered with (POST /v1/auth/revoke with its refresh token), untimed. */
async function endSession(agent, url, res) {
  const { refreshToken } = JSON.parse(res.text);
  const out = await send(agent, url, { method: "POST", path: "/v1/auth/revoke", body: { refreshToken } });
  if (out.status >= 300) throw new Error(`revoke after a sign-in: ${out.status}`);
}

function summarise(runs) {
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  const hops = runs.map((r) => r.hops).filter(Boolean);
  const field = (f) => hops.map(f);
  return {
    samples: runs.length,
    wrong: runs.filter((r) => !r.ok).length,
    statuses: runs.reduce((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {}),
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    min: ms[0],
    d1Trips: median(field((h) => h.d1Trips)),
    d1Serial: median(field((h) => h.d1Serial)),
    d1Replica: median(field((h) => h.d1ReplicaTrips ?? 0)),
    d1Writes: mean(field((h) => h.d1Writes)),
    rowsRead: mean(field((h) => h.rowsRead)),
    rowsWritten: mean(field((h) => h.rowsWritten)),
    userObject: mean(field((h) => h.doCalls.USER_SESSIONS ?? 0)),
    limiter: mean(field((h) => h.doCalls.RATE_LIMITER ?? 0)),
    challengeObject: mean(field((h) => h.doCalls.LOGIN_CHALLENGES ?? 0)),
    writtenByTable: hops.length ? Object.fromEntries(Object.keys(Object.assign({}, ...hops.map((h) => h.writtenByTable))).map((t) => [t, mean(field((h) => h.writtenByTable[t] ?? 0))])) : {},
  };
}

/**
 * The PBKDF2 floor (bench/floor-worker.ts `/pbkdf2`: one derive of 100,000 iterations, nothing else)
 * and the same worker's trivial `/json`, timed one at a time like the routes, alternating: the login
 * target is "PBKDF2 aside" (issue 27, item 2), and the derive's share is their difference.
 */
async function pbkdf2Floor(agent, floor) {
  const routes = {
    pbkdf2: { request: () => ({ path: "/pbkdf2" }), check: (res) => res.status === 200 },
    json: { request: () => ({ path: "/json" }), check: (res) => res.status === 200 },
  };
  const runs = { pbkdf2: [], json: [] };
  for (let i = 0; i < samples + WARMUP; i++) {
    for (const key of ["pbkdf2", "json"]) {
      const run = await timed(agent, floor.url, routes[key]);
      if (i >= WARMUP) runs[key].push(run);
    }
  }
  const pbkdf2 = summarise(runs.pbkdf2);
  const json = summarise(runs.json);
  // The derive alone: the floor's answer minus a trivial answer of the same worker (the request's own cost).
  return { ...pbkdf2, trivialP50: json.p50, deriveP50: pbkdf2.p50 - json.p50 };
}

/** Each placement's prepared routes (by service name), kept for the capacity step's sign-in mix. */
const preparedRoutes = new Map();

async function latency(agent, services, provider) {
  log("preparing the routes on both services");
  const prepared = await Promise.all(services.map((s) => prepareRoutes(agent, s.url, provider)));
  services.forEach((s, k) => preparedRoutes.set(s.name, prepared[k]));
  const results = {};
  for (const route of ROUTES) {
    await Promise.all(prepared.map((p) => p[route].prepare(samples + WARMUP)));
    await new Promise((resolve) => setTimeout(resolve, 500)); // mail delivery of the preparation (waitUntil) ends
    const runs = services.map(() => []);
    const loadBefore = load();
    for (let i = 0; i < samples + WARMUP; i++) {
      for (const [k, service] of services.entries()) {
        const run = await timed(agent, service.url, prepared[k][route]);
        if (i >= WARMUP) runs[k].push(run);
      }
    }
    results[route] = Object.fromEntries(services.map((s, k) => [s.name, { ...summarise(runs[k]), load: `${loadBefore} → ${load()}` }]));
    log(`${route.padEnd(15)} ${services.map((s) => `${s.name} p50 ${results[route][s.name].p50.toFixed(1)} ms p99 ${results[route][s.name].p99.toFixed(1)} ms D1 ${results[route][s.name].d1Serial}/${results[route][s.name].d1Trips} wrong ${results[route][s.name].wrong}`).join(" | ")}  load ${load()}`);
  }
  return results;
}

async function main() {
  const started = Date.now();
  const tmp = mkdtempSync(`${os.tmpdir()}/edge-auth-far-`);
  const cwd = snapshot(`${tmp}/app`);
  const config = farConfig(cwd);
  const run = { startedAt: new Date(started).toISOString(), samples, warmup: WARMUP, doMs: DO_MS, replicaMs: REPLICA_MS, loadAtStart: load(), cpus: os.cpus().length, placements: PLACEMENTS.map(({ name, d1Ms }) => ({ name, d1Ms })) };
  log(`state and logs in ${tmp}; load ${run.loadAtStart}`);
  const provider = await startProvider(OIDC_PORT, OIDC_CLIENT);
  const agent = new http.Agent({ keepAlive: true });
  const vars = {
    RATE_LIMIT_GUEST: RAISED, RATE_LIMIT_LOGIN: RAISED, RATE_LIMIT_REFRESH: RAISED, RATE_LIMIT_SESSIONS: RAISED, RATE_LIMIT_SIGNOUT: RAISED, ...FEATURE_VARS,
    BENCH_DO_DELAY_MS: String(DO_MS), BENCH_REPLICA_DELAY_MS: String(REPLICA_MS),
  };
  const services = [];
  for (const p of PLACEMENTS) {
    const service = await startService({ cwd, config, port: p.port, persistTo: `${tmp}/${p.name}`, log: `${tmp}/${p.name}.log`, vars: { ...vars, BENCH_D1_DELAY_MS: String(p.d1Ms) } });
    services.push({ ...service, name: p.name });
  }
  log("both services are up");
  try {
    if (parts.has("latency")) {
      run.latency = await latency(agent, services, provider);
      const floor = await startFloor({ cwd, port: 8804, persistTo: `${tmp}/floor`, log: `${tmp}/floor.log` });
      run.pbkdf2 = await pbkdf2Floor(agent, floor);
      log(`PBKDF2 floor p50 ${run.pbkdf2.p50.toFixed(1)} ms, trivial ${run.pbkdf2.trivialP50.toFixed(1)} ms: the derive ${run.pbkdf2.deriveP50.toFixed(1)} ms  load ${load()}`);
    }
    if (parts.has("capacity")) {
      const near = services.find((s) => s.name === "near");
      const routes = preparedRoutes.get("near") ?? (await prepareRoutes(agent, near.url, provider));
      run.capacity = await capacity(agent, near.url, { log, persistTo: `${tmp}/near`, routes });
    }
    run.cost = costModel(run);
  } finally {
    await stopAll();
    await provider.close();
    agent.destroy();
  }
  run.loadAtEnd = load();
  run.elapsedSeconds = Math.round((Date.now() - started) / 1000);
  const markdown = renderFar(run);
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  const stamp = run.startedAt.replace(/[:.]/g, "-");
  writeFileSync(`${ROOT}bench/results/far-${stamp}.json`, JSON.stringify(run, null, 2));
  writeFileSync(`${ROOT}bench/results/far-${stamp}.md`, markdown);
  console.log(`\n${markdown}\n`);
  for (const route of ROUTES) {
    for (const p of PLACEMENTS) {
      const r = run.latency?.[route]?.[p.name];
      if (r) console.log(`${p.name} ${route} p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)}`);
    }
  }
  const wrong = Object.values(run.latency ?? {}).flatMap((byPlacement) => Object.values(byPlacement)).some((r) => r.wrong > 0);
  return !wrong;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error) => {
    console.error(error);
    await stopAll();
    process.exit(2);
  },
);
