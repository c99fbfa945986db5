#!/usr/bin/env node
/**
 * Where a bench scenario's time goes, with no timing code in src/: starts its own service through
 * bench/serve.mjs, with an inspector this time (ports 8796/8797, fresh state, the bench's raised
 * limits; an open inspector adds CPU to every console line, so these runs cost more than the
 * bench's), then for each scenario prints the CPU per request of each process of that server (Node,
 * proxy workerd, runtime workerd) and a DevTools CPU profile of the Worker isolate (main worker and its Durable Objects)
 * taken through the inspector: self time by function and by module, and the idle share.
 *
 * With `--features`, the feature routes' scenarios (bench/features.mjs: email-code verify, passkey
 * login, ID-token sign-in, activity, admin search) can be profiled too: the service then listens on
 * 8790, the port those scenarios' WebAuthn origin names, with the loopback OpenID provider on 8788
 * (so not while `npm run bench` runs).
 *
 * @example
 * npx node bench/profile.mjs --scenario login.warm,me --seconds 6
 * npx node bench/profile.mjs --features --scenario passkey.login --seconds 4 --connections 8
 */
import http from "node:http";
import { parseArgs } from "node:util";
import { prepareScenarioState } from "./accounts.mjs";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { load } from "./driver.mjs";
import { cpuByProcess, killAllSync, snapshot, startService, stopAll } from "./processes.mjs";
import { serviceScenarios } from "./scenarios.mjs";
import { FEATURE_VARS, featureScenarios } from "./features.mjs";

const { values } = parseArgs({
  options: {
    vars: { type: "string", default: "" },
    /** Readable function names in the profile; minifying changes nothing else that matters here. */
    minify: { type: "boolean", default: false },
    scenario: { type: "string", default: "refresh.warm" },
    seconds: { type: "string", default: "6" },
    connections: { type: "string", default: "32" },
    top: { type: "string", default: "30" },
    features: { type: "boolean", default: false },
  },
});
const connections = Number(values.connections);

function inspector(port) {
  // The inspector proxy refuses upgrades without an Origin (DNS-rebinding protection).
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { origin: "http://localhost" } });
  let id = 0;
  const pending = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.id && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    }
  });
  const opened = new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  return {
    opened,
    call: (method, params = {}) =>
      new Promise((resolve) => {
        const n = ++id;
        pending.set(n, resolve);
        socket.send(JSON.stringify({ id: n, method, params }));
      }),
    close: () => socket.close(),
  };
}

function summarize(profile, top) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const interval = (profile.endTime - profile.startTime) / profile.samples.length / 1000;
  const byFunction = new Map();
  const byModule = new Map();
  const add = (map, key, ms) => map.set(key, (map.get(key) ?? 0) + ms);
  for (const sample of profile.samples) {
    const frame = nodes.get(sample).callFrame;
    const name = frame.functionName || "(anonymous)";
    const where = frame.url ? frame.url.replace(/^.*\//, "") : "";
    add(byFunction, `${name} ${where}:${frame.lineNumber + 1}`, interval);
    add(byModule, where || name, interval);
  }
  const total = profile.samples.length * interval;
  const print = (title, map) => {
    console.log(`\n${title} (ms of ${total.toFixed(0)} ms sampled)`);
    for (const [key, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms.toFixed(0).padStart(8)}  ${(100 * ms / total).toFixed(1).padStart(5)}%  ${key}`);
  };
  print("self time by function", byFunction);
  print("self time by module", byModule);
}

process.on("exit", killAllSync);
const tmp = mkdtempSync(`${os.tmpdir()}/edge-auth-profile-`);
const RAISED = "1000000/3600";
const extraVars = Object.fromEntries(values.vars.split(",").filter(Boolean).map((kv) => kv.split("=")));
const service = await startService({
  cwd: snapshot(`${tmp}/app`), port: values.features ? 8790 : 8796, inspectorPort: 8797, persistTo: `${tmp}/service`, log: `${tmp}/service.log`,
  vars: {
    RATE_LIMIT_GUEST: RAISED, RATE_LIMIT_LOGIN: RAISED, RATE_LIMIT_REFRESH: RAISED, RATE_LIMIT_SESSIONS: RAISED,
    ...(values.features ? FEATURE_VARS : {}), ...extraVars,
  },
  minify: values.minify,
});
const agent = new http.Agent({ keepAlive: true });
const url = service.url;
const state = await prepareScenarioState(agent, url, connections, "profile");
const features = values.features ? await featureScenarios(agent, url, state, connections) : { scenarios: [], close: () => undefined };
const scenarios = [...serviceScenarios(url, state, connections), ...features.scenarios];
for (const key of values.scenario.split(",")) {
  const scenario = scenarios.find((s) => s.key === key);
  if (!scenario) throw new Error(`no scenario ${key} (keys: ${scenarios.map((s) => s.key).join(", ")})`);
  // Single-use inputs (codes, passkey challenges) for the warm-up and the measured seconds.
  if (scenario.prepare) await scenario.prepare(connections * 40);
  const devtools = inspector(8797);
  await devtools.opened;
  await devtools.call("Profiler.enable");
  await devtools.call("Profiler.setSamplingInterval", { interval: 200 });
  await load({ ...scenario, connections, warmupMs: 1000, durationMs: 1000 });
  const before = cpuByProcess(service);
  await devtools.call("Profiler.start");
  const result = await load({ ...scenario, connections, warmupMs: 0, durationMs: Number(values.seconds) * 1000 });
  const { result: stopped } = await devtools.call("Profiler.stop");
  const after = cpuByProcess(service);
  devtools.close();
  console.log(`\n=== ${scenario.name}: ${result.rps.toFixed(1)} req/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, wrong ${result.failures + result.errors} (while profiling)`);
  console.log("CPU ms per request by process:");
  for (const [pid, { name, ms }] of after) {
    const spent = ms - (before.get(pid)?.ms ?? 0);
    if (spent > 0) console.log(`${(spent / result.requests).toFixed(2).padStart(8)}  ${name} (${pid})`);
  }
  summarize(stopped.profile, Number(values.top));
}
await features.close();
agent.destroy();
await stopAll();
