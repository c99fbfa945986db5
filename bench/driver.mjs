/**
 * A small closed-loop HTTP load driver for loopback benchmarks: `connections` clients, each on its
 * own kept-alive socket, send one request at a time for a bounded time (after a warm-up that is not
 * counted) and never more than `maxRequests` in all. Each client keeps its own state, so a client
 * can carry a refresh-token chain (send the token it got last). Plain node:http, because
 * autocannon resets its per-request context every request and so cannot carry a chain.
 *
 * @example
 * import { load } from "./driver.mjs";
 * const result = await load({
 *   url: "http://127.0.0.1:8792", connections: 32, warmupMs: 2000, durationMs: 8000,
 *   request: (client) => ({ method: "GET", path: "/json" }),
 *   check: (res, client) => res.status === 200,
 * });
 * result.rps; result.p50; result.p99; result.statuses; // { "200": 51234 }
 * // With `cpu: { read, delta, byRole? }` (processes.mjs), also result.serverCpuMs: the server's CPU time
 * // in the window, and result.serverCpuByRole: the same by process ({ node, proxy, runtime }).
 */
import http from "node:http";

/** Sends one request on `agent` and resolves with its status, headers and text body. */
export function send(agent, base, { method = "GET", path, headers = {}, body }) {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const allHeaders = { ...headers };
  if (payload !== undefined) {
    allHeaders["content-type"] ??= "application/json";
    allHeaders["content-length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: allHeaders },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url.pathname}`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Samples of wrong answers end up in reports: never with a token in them. */
export function redact(text) {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, "[jwt]").replace(/[A-Za-z0-9_-]{40,}/g, "[token]");
}

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Runs `connections` closed-loop clients. `request(client)` builds each request from the client's
 * state ({ index, ...whatever `init` returned }); `check(response, client)` returns true when the
 * answer is right (and may update the client's state). Answers that fail the check are counted in
 * `failures` (with up to 5 samples) and still timed: a wrong answer must not look like a fast one.
 * `request` may return null when the client has no more work (prepared single-use codes or
 * challenges ran out): that client stops, and when all have stopped before the window's end the
 * window ends there (throughput and CPU are taken over the time actually measured).
 */
export async function load({ url, connections, warmupMs, durationMs, maxRequests = 200_000, init = () => ({}), request, check, cpu }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const clients = await Promise.all(Array.from({ length: connections }, async (_, index) => ({ index, ...(await init(index)) })));
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const stopAt = measureFrom + durationMs;
  const latencies = [];
  const statuses = {};
  const failureSamples = [];
  let failures = 0;
  let sent = 0;
  let errors = 0;

  // Server CPU readings at the window's edges, when the caller can take them (see processes.mjs).
  let cpuAtStart;
  let cpuAtEnd;
  const cpuTimers = cpu
    ? [setTimeout(() => (cpuAtStart = cpu.read()), warmupMs), setTimeout(() => (cpuAtEnd = cpu.read()), warmupMs + durationMs)]
    : [];

  async function run(client) {
    while (performance.now() < stopAt && sent < maxRequests) {
      const next = request(client);
      if (next === null) return;
      sent++;
      const t0 = performance.now();
      let ok = false;
      let status = "error";
      try {
        const res = await send(agent, url, next);
        status = String(res.status);
        ok = await check(res, client);
        if (!ok && failureSamples.length < 5) failureSamples.push(`${res.status} ${redact(res.text).slice(0, 160)}`);
      } catch (error) {
        errors++;
        if (failureSamples.length < 5) failureSamples.push(String(error).slice(0, 160));
      }
      const t1 = performance.now();
      // Completions inside the window, whenever they started: unbiased throughput in steady state.
      if (t1 >= measureFrom && t1 <= stopAt) {
        latencies.push(t1 - t0);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (!ok) failures++;
      }
    }
  }

  await Promise.all(clients.map(run));
  const finishedAt = performance.now();
  cpuTimers.forEach(clearTimeout);
  // Out of work before the window's end: the window ends now (and nothing measured if it never began).
  const measuredMs = Math.max(0, Math.min(stopAt, finishedAt) - measureFrom);
  if (cpu && cpuAtStart !== undefined && cpuAtEnd === undefined) cpuAtEnd = cpu.read();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    durationMs: measuredMs,
    exhausted: finishedAt < stopAt,
    connections,
    requests: latencies.length,
    rps: measuredMs > 0 ? latencies.length / (measuredMs / 1000) : 0,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    statuses,
    failures,
    errors,
    failureSamples,
    latencies,
    serverCpuMs: cpuAtStart !== undefined && cpuAtEnd !== undefined ? cpu.delta(cpuAtStart, cpuAtEnd) : undefined,
    serverCpuByRole: cpu?.byRole && cpuAtStart !== undefined && cpuAtEnd !== undefined ? cpu.byRole(cpuAtStart, cpuAtEnd) : undefined,
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One result from several runs of the same scenario (rounds spread a measurement over the run). */
export function merge(results) {
  const counted = results.filter((r) => r.serverCpuMs !== undefined && r.requests > 0);
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = results.reduce((sum, r) => sum + r.durationMs / 1000, 0);
  const statuses = {};
  for (const r of results) for (const [status, count] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  return {
    connections: results[0]?.connections,
    requests: latencies.length,
    rps: seconds > 0 ? latencies.length / seconds : 0,
    exhausted: results.some((r) => r.exhausted),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    statuses,
    failures: results.reduce((sum, r) => sum + r.failures, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    failureSamples: results.flatMap((r) => r.failureSamples).slice(0, 5),
    // Each round is one steady state; pooling rounds run under different background load would
    // turn that load's changes into a false tail. So the tail is judged round by round.
    tailRatio: median(results.filter((r) => r.requests > 0).map((r) => r.p99 / r.p50)),
    // The median over rounds: one round on a busy shared machine can cost a third more CPU per request.
    // Rounds in which nothing completed (a saturated server, a short window) have no CPU per request.
    serverCpuMsPerRequest: counted.length > 0 ? median(counted.map((r) => r.serverCpuMs / r.requests)) : undefined,
    // The same, split by process (Node, proxy workerd, runtime workerd): where the CPU went.
    serverCpuByRole: counted.length > 0 && counted.every((r) => r.serverCpuByRole !== undefined)
      ? Object.fromEntries(
        [...new Set(counted.flatMap((r) => Object.keys(r.serverCpuByRole)))].map((role) => [role, median(counted.map((r) => (r.serverCpuByRole[role] ?? 0) / r.requests))]),
      )
      : undefined,
  };
}
