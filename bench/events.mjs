#!/usr/bin/env node
/**
 * The events bench (API.md §16), run by `npm run bench` after the main table (and on its own):
 *
 * 1. **Outbox cost**: CPU per request of a guest sign-up (`POST /v1/auth/guest`) and of a deletion
 *    (`DELETE /v1/auth/me` of a guest), on the checkout (A) and on a copy whose outbox is switched
 *    off (B: the event statements write nothing and nothing is handed to the queue). A − B is what
 *    the outbox adds; the target is under 10 % of the route's CPU. Both with WEBHOOKS empty, so no
 *    delivery runs during the measurement (the hand-off still marks the event queued).
 * 2. **Consumer throughput**: the checkout with one endpoint, a Node receiver on loopback that checks
 *    every signature with `standardwebhooks`. N guests are signed up while the receiver answers 503,
 *    so every delivery waits in the queue for its retry (15 s); the receiver then opens and times
 *    the backlog's deliveries: events per second one consumer delivers.
 *
 * Rounds alternate A and B so a busy machine weighs on both alike. Ports 8796, 8798 (services),
 * 8799 (receiver). Settings: EVENTS_BENCH_REQUESTS (400 per side and round), EVENTS_BENCH_ROUNDS (4),
 * EVENTS_BENCH_CONNECTIONS (16), EVENTS_BENCH_DELIVERIES (500).
 *
 * @example
 * npx node bench/events.mjs            # prints the table and writes bench/results/events.json
 */
import http from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { send } from "./driver.mjs";
import { cpuByProcess, cpuDelta, killAllSync, snapshot, startService, stopAll, ROOT } from "./processes.mjs";

const settings = {
  requests: Number(process.env.EVENTS_BENCH_REQUESTS ?? 400),
  rounds: Number(process.env.EVENTS_BENCH_ROUNDS ?? 4),
  connections: Number(process.env.EVENTS_BENCH_CONNECTIONS ?? 16),
  deliveries: Number(process.env.EVENTS_BENCH_DELIVERIES ?? 500),
};
const RAISED = "1000000/3600";
const vars = { RATE_LIMIT_GUEST: RAISED, RATE_LIMIT_ACCOUNT: RAISED, RATE_LIMIT_LOGIN: RAISED };
const log = (message) => console.log(`[events bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
process.on("exit", killAllSync);

/** B: the same code with the outbox switched off (no event row, no hand-off). */
function withoutOutbox(dir) {
  const statements = `${dir}/src/events/statements.ts`;
  const source = readFileSync(statements, "utf8").replace(
    "return db.insert(events).select(select);",
    "void select; return db.insert(events).select(sql`SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE 0`);",
  );
  if (!source.includes("WHERE 0")) throw new Error("could not switch the outbox off in the variant");
  writeFileSync(statements, source);
  const index = `${dir}/src/events/index.ts`;
  const publish = readFileSync(index, "utf8").replace("if (pending.length === 0) return;", "return;");
  writeFileSync(index, publish);
  return dir;
}

/** Runs `count` requests made by `make(i)` over `connections` keep-alive connections; returns the server's CPU ms per request. */
async function measure(server, agent, count, make) {
  let next = 0;
  const before = cpuByProcess(server);
  await Promise.all(
    Array.from({ length: settings.connections }, async () => {
      for (let i = next++; i < count; i = next++) {
        const answer = await send(agent, server.url, make(i));
        if (answer.status >= 300) throw new Error(`${answer.status}: ${answer.text.slice(0, 200)}`);
      }
    }),
  );
  return cpuDelta(before, cpuByProcess(server)) / count;
}

async function guests(server, agent, count) {
  const made = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: settings.connections }, async () => {
      for (let i = next++; i < count; i = next++) made.push(JSON.parse((await send(agent, server.url, { method: "POST", path: "/v1/auth/guest" })).text));
    }),
  );
  return made;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function outboxCost(tmp, agent) {
  const [a, b] = await Promise.all([
    startService({ cwd: snapshot(`${tmp}/a`), port: 8796, persistTo: `${tmp}/a-state`, log: `${tmp}/a.log`, vars }),
    startService({ cwd: withoutOutbox(snapshot(`${tmp}/b`)), port: 8798, persistTo: `${tmp}/b-state`, log: `${tmp}/b.log`, vars }),
  ]);
  const samples = { a: { signUp: [], deletion: [] }, b: { signUp: [], deletion: [] } };
  // Warm both (the first few hundred requests of a fresh runtime cost more).
  for (const server of [a, b]) {
    await measure(server, agent, 300, () => ({ method: "POST", path: "/v1/auth/guest" }));
    const pool = await guests(server, agent, 100);
    await measure(server, agent, pool.length, (i) => ({ method: "DELETE", path: "/v1/auth/me", headers: { authorization: `Bearer ${pool[i].accessToken}` } }));
  }
  for (let round = 0; round < settings.rounds; round++) {
    // A then B, then B then A: neither side always runs first.
    const order = round % 2 === 0 ? [["a", a], ["b", b]] : [["b", b], ["a", a]];
    for (const [side, server] of order) {
      samples[side].signUp.push(await measure(server, agent, settings.requests, () => ({ method: "POST", path: "/v1/auth/guest" })));
      const pool = await guests(server, agent, settings.requests);
      samples[side].deletion.push(await measure(server, agent, pool.length, (i) => ({ method: "DELETE", path: "/v1/auth/me", headers: { authorization: `Bearer ${pool[i].accessToken}` } })));
      log(`round ${round + 1} ${side}: sign-up ${samples[side].signUp.at(-1).toFixed(2)} ms, deletion ${samples[side].deletion.at(-1).toFixed(2)} ms CPU/request`);
    }
  }
  await stopAll();
  const row = (route) => {
    const withOutbox = median(samples.a[route]);
    const without = median(samples.b[route]);
    return { withOutbox, without, added: withOutbox - without, share: (withOutbox - without) / withOutbox };
  };
  return { signUp: row("signUp"), deletion: row("deletion"), samples };
}

async function throughput(tmp, agent) {
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const verifier = new Webhook(secret);
  const arrivals = [];
  let bad = 0;
  // Closed (503) while the events are made, so they pile up in the queue; every message is then
  // retried after the same delay (WEBHOOK_RETRY_DELAYS_SECONDS below) and the open receiver times
  // how fast one consumer drains the backlog, not how fast sign-ups come.
  let open = false;
  const receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        verifier.verify(Buffer.concat(chunks).toString("utf8"), req.headers);
        if (open) arrivals.push(Date.now());
      } catch {
        bad++;
      }
      res.writeHead(open ? 204 : 503).end();
    });
  });
  await new Promise((resolve) => receiver.listen(8799, "127.0.0.1", resolve));
  const server = await startService({
    cwd: snapshot(`${tmp}/c`),
    port: 8796,
    persistTo: `${tmp}/c-state`,
    log: `${tmp}/c.log`,
    vars: { ...vars, WEBHOOKS: JSON.stringify({ bench: { url: "http://127.0.0.1:8799/hook" } }), WEBHOOK_SECRET_BENCH: secret, WEBHOOK_RETRY_DELAYS_SECONDS: "15" },
  });
  const started = Date.now();
  await guests(server, agent, settings.deliveries);
  const committed = Date.now();
  if (committed - started > 12_000) log("warning: the sign-ups took longer than the retry delay; the backlog is not whole");
  open = true;
  const deadline = Date.now() + 120_000;
  while (arrivals.length < settings.deliveries && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await stopAll();
  receiver.close();
  const delivered = arrivals.length;
  const seconds = (Math.max(...arrivals) - Math.min(...arrivals)) / 1000;
  return { delivered, expected: settings.deliveries, badSignatures: bad, signUpSeconds: (committed - started) / 1000, deliverySeconds: seconds, eventsPerSecond: delivered / Math.max(seconds, 0.001) };
}

export async function runEventsBench() {
  const tmp = mkdtempSync(`${os.tmpdir()}/edge-auth-events-bench-`);
  const agent = new http.Agent({ keepAlive: true });
  log(`outbox cost: ${settings.rounds} rounds × ${settings.requests} requests per side, ${settings.connections} connections`);
  const cost = process.env.EVENTS_BENCH_ONLY === "throughput" ? null : await outboxCost(tmp, agent);
  log(`consumer throughput: ${settings.deliveries} events`);
  const rate = await throughput(tmp, agent);
  const result = { settings, cost, rate, logs: tmp };
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/events.json`, JSON.stringify(result, null, 2));
  const pct = (x) => `${(x * 100).toFixed(1)} %`;
  const line = (name, r) => `| ${name} | ${r.withOutbox.toFixed(2)} | ${r.without.toFixed(2)} | ${r.added.toFixed(2)} | ${pct(r.share)} | ${r.share < 0.1 ? "within" : "OVER"} |`;
  const table = [
    "| route (CPU ms per request, median of rounds) | with the outbox | outbox off | added | share | target < 10 % |",
    "|---|---|---|---|---|---|",
    ...(cost ? [line("sign-up (`POST /v1/auth/guest`)", cost.signUp), line("deletion (`DELETE /v1/auth/me`, a guest)", cost.deletion)] : []),
    "",
    `Consumer: ${rate.delivered}/${rate.expected} events delivered and verified (${rate.badSignatures} bad signatures) in ${rate.deliverySeconds.toFixed(1)} s: **${rate.eventsPerSecond.toFixed(0)} events/s** from one consumer draining a backlog to a loopback receiver (first to last delivery; the ${rate.expected} events were made in ${rate.signUpSeconds.toFixed(1)} s while the receiver answered 503).`,
  ].join("\n");
  console.log(table);
  return { result, table };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runEventsBench()
    .then(() => process.exit(0))
    .catch(async (error) => {
      console.error(error);
      await stopAll();
      process.exit(1);
    });
}
