#!/usr/bin/env node
/**
 * Measures whether POST /v1/auth/forgot-password takes about the same time for an existing account
 * as for an unknown address (API.md §3: it must, or the timing tells who has an account). Against
 * a running development service on loopback: registers N accounts, then sends N forgot requests
 * for them and N for unknown addresses, interleaved, each from its own CF-Connecting-IP and each
 * address once (so the real rate limits never trigger), and prints the latency quantiles of both.
 * Bounded: N is capped at 200; every request has a 10 s timeout.
 *
 * @example
 * npm run dev -- --ip 127.0.0.1 --port 8805 --inspector-port 8806 --persist-to /tmp/measure
 * npx node scripts/measure-forgot-timing.mjs http://127.0.0.1:8805 60
 */
const base = process.argv[2] ?? "http://127.0.0.1:8805";
const count = Math.min(Number(process.argv[3] ?? 60), 200);
if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(base)) throw new Error("loopback only: pass http://127.0.0.1:<port>");

let ip = Math.floor(Math.random() * 50_000);
const nextIp = () => `10.99.${(++ip >> 8) & 255}.${ip & 255}`;
const run = crypto.randomUUID().slice(0, 8);

async function post(path, body) {
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": nextIp() },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { n: sorted.length, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted.at(-1), mean };
}
const fmt = (s) => `n=${s.n} p50=${s.p50.toFixed(1)}ms p90=${s.p90.toFixed(1)}ms max=${s.max.toFixed(1)}ms mean=${s.mean.toFixed(1)}ms`;

const known = [];
for (let i = 0; i < count; i++) {
  const email = `timing-${run}-${i}@example.com`;
  const registered = await post("/v1/auth/register", { email, password: "violet-harbor-lantern-42" });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${registered.text.slice(0, 200)}`);
  known.push(email);
}

// One warm-up of each kind, then alternate so drift in the service affects both groups alike.
await post("/v1/auth/forgot-password", { email: `warmup-${run}@example.com` });
const times = { known: [], unknown: [] };
const bodies = new Set();
for (let i = 0; i < count; i++) {
  for (const kind of i % 2 ? ["known", "unknown"] : ["unknown", "known"]) {
    const email = kind === "known" ? known[i] : `nobody-${run}-${i}@example.com`;
    const answer = await post("/v1/auth/forgot-password", { email });
    if (answer.status !== 200) throw new Error(`forgot-password answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    bodies.add(answer.text);
    times[kind].push(answer.ms);
  }
}
console.log(`forgot-password, existing account: ${fmt(summary(times.known))}`);
console.log(`forgot-password, unknown address:  ${fmt(summary(times.unknown))}`);
console.log(`distinct answer bodies: ${bodies.size}`);
