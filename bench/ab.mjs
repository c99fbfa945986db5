#!/usr/bin/env node
/**
 * A/B of the service's CPU per request: the checkout as it is (A) against a variant copy of it (B),
 * e.g. with a proposed change to src/, served the same way as the bench (bench/serve.mjs), in
 * alternating short runs so a busy machine weighs on both alike. This is how the fixes proposed in
 * BENCHMARKS.md were measured, and how to check one before applying it. Ports 8796 and 8798.
 *
 * @example
 * node --input-type=module -e 'import("./bench/processes.mjs").then((p) => p.snapshot("/tmp/variant"))'
 * # edit /tmp/variant/src/..., then:
 * npx node bench/ab.mjs --variant /tmp/variant --scenarios me,refresh.warm,login.warm --rounds 3
 */
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { prepareScenarioState } from "./accounts.mjs";
import { load } from "./driver.mjs";
import { cpuByProcess, cpuDelta, killAllSync, snapshot, startService, stopAll } from "./processes.mjs";
import { serviceScenarios } from "./scenarios.mjs";

const { values } = parseArgs({
  options: {
    variant: { type: "string" },
    scenarios: { type: "string", default: "me,refresh.warm,login.warm" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
  },
});
if (!values.variant) throw new Error("--variant <directory made with snapshot()> is required");
const connections = Number(values.connections);
process.on("exit", killAllSync);

const tmp = mkdtempSync(`${os.tmpdir()}/edge-auth-ab-`);
const RAISED = "1000000/3600";
const vars = { RATE_LIMIT_GUEST: RAISED, RATE_LIMIT_LOGIN: RAISED, RATE_LIMIT_REFRESH: RAISED, RATE_LIMIT_SESSIONS: RAISED };
const [a, b] = await Promise.all([
  startService({ cwd: snapshot(`${tmp}/a`), port: 8796, persistTo: `${tmp}/a-state`, log: `${tmp}/a.log`, vars }),
  startService({ cwd: values.variant, port: 8798, persistTo: `${tmp}/b-state`, log: `${tmp}/b.log`, vars }),
]);
const agent = new http.Agent({ keepAlive: true });

async function prepare(url) {
  const state = await prepareScenarioState(agent, url, connections, "ab");
  return serviceScenarios(url, state, connections);
}

const sides = [
  { label: "A (checkout)", server: a, scenarios: await prepare(a.url) },
  { label: "B (variant)", server: b, scenarios: await prepare(b.url) },
];
const cpu = {};
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const key of values.scenarios.split(",")) {
    for (const side of sides) {
      const scenario = side.scenarios.find((s) => s.key === key);
      if (!scenario) throw new Error(`no scenario ${key}`);
      const result = await load({
        ...scenario, connections, warmupMs: 1000, durationMs: Number(values.seconds) * 1000,
        cpu: { read: () => cpuByProcess(side.server), delta: cpuDelta },
      });
      const perRequest = result.serverCpuMs / result.requests;
      (cpu[`${key} ${side.label}`] ??= []).push(perRequest);
      console.log(`round ${round}: ${key.padEnd(14)} ${side.label.padEnd(12)} ${result.rps.toFixed(1).padStart(7)} req/s  ${perRequest.toFixed(2)} CPU ms/req  wrong ${result.failures + result.errors}`);
    }
  }
}
console.log("\nCPU ms per request, each round:");
for (const [name, list] of Object.entries(cpu)) console.log(`${name.padEnd(30)} ${list.map((v) => v.toFixed(2)).join("  ")}`);
agent.destroy();
await stopAll();
