/**
 * Turns a bench run into the results table, the target ratios and the correctness checks, as
 * Markdown and JSON: bench/results/<timestamp>.{md,json} and latest.md (git-ignored), and the
 * generated section of BENCHMARKS.md between its `bench:results` markers (the rest of that file,
 * the analysis, is written by hand and left alone).
 *
 * @example
 * import { ratios, renderMarkdown, writeResults } from "./report.mjs";
 * const run = { machine, results, ratios: ratios(results, 32), checks, bundle };
 * writeResults(run, renderMarkdown(run));
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";

const ROOT = new URL("..", import.meta.url).pathname;
const START = "<!-- bench:results:start (written by npm run bench) -->";
const END = "<!-- bench:results:end -->";

const shell = (command) => {
  try {
    return execSync(command, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
};

export function machine() {
  return {
    nproc: shell("nproc"),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memory: shell("free -h | awk '/^Mem:/ {print $2 \" total, \" $7 \" available\"}'"),
    node: process.version,
    wrangler: shell("npx wrangler --version"),
    loadAverageAtStart: os.loadavg().map((n) => n.toFixed(2)).join(" "),
  };
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

/** The targets of issue 8, computed from the merged results. */
export function ratios(results, connections) {
  const r = (key) => results[key];
  const ratio = (name, a, b, target) => {
    const cpuRatio = r(b).serverCpuMsPerRequest / r(a).serverCpuMsPerRequest;
    // The runtime workerd alone (the Worker, its objects, D1): no wrangler proxy, no Node, as in production.
    const [ra, rb] = [r(a).serverCpuByRole?.runtime, r(b).serverCpuByRole?.runtime];
    const runtimeRatio = rb / ra;
    return {
      name, value: r(a).rps / r(b).rps, target, pass: r(a).rps / r(b).rps >= target, detail: `${fmt(r(a).rps)} ÷ ${fmt(r(b).rps)} req/s`,
      cpu: { value: cpuRatio, pass: cpuRatio >= target, detail: `${fmt(r(b).serverCpuMsPerRequest, 2)} ÷ ${fmt(r(a).serverCpuMsPerRequest, 2)} CPU ms/req` },
      runtime: { value: runtimeRatio, pass: runtimeRatio >= target, detail: `${fmt(rb, 2)} ÷ ${fmt(ra, 2)}` },
    };
  };
  const tail = (mode) => {
    const { p50, p99, tailRatio } = r(`refresh.${mode}`);
    return {
      name: `refresh (${mode} IP) p99 ÷ p50 at ${connections} clients, median of rounds`, value: tailRatio, target: 3, atMost: true,
      pass: tailRatio <= 3, detail: `pooled over rounds: ${fmt(p99)} ÷ ${fmt(p50)} ms`,
    };
  };
  return [
    ratio("login (warm IP) ÷ PBKDF2 floor", "login.warm", "floor.pbkdf2", 0.85),
    ratio("login (fresh IP) ÷ PBKDF2 floor", "login.fresh", "floor.pbkdf2", 0.85),
    ratio("me ÷ D1 floor", "me", "floor.d1", 0.9),
    ratio("refresh (warm IP) ÷ Durable Object floor", "refresh.warm", "floor.do", 0.45),
    ratio("refresh (fresh IP) ÷ Durable Object floor", "refresh.fresh", "floor.do", 0.45),
    ratio("guest (warm IP) ÷ guest-rows floor", "guest.warm", "floor.guest", 0.8),
    ratio("guest (fresh IP) ÷ guest-rows floor", "guest.fresh", "floor.guest", 0.8),
    tail("warm"),
    tail("fresh"),
  ];
}

/**
 * The least CPU each ratio's route could cost, priced from the floor and reference routes: the
 * floor's own cost plus, for each piece of work API.md requires of the route, what that piece adds
 * to a trivial JSON answer. Dividing the floor by it gives the best ratio the route could reach
 * on this machine's local runtime, if all it did were that work; the rest of the measured cost is overhead.
 */
/** Issue 2 requires one JSON log line per request; the floors write none. */
const LOG_LINE = ["one JSON log line", "ref.log"];

export function budgets(results) {
  const cpu = (key) => results[key].serverCpuMsPerRequest;
  const add = (key) => cpu(key) - cpu("floor.json");
  // `base` is the floor route the required work starts from; `floor` the one the target divides by.
  const budget = (name, route, floor, base, parts) => {
    const required = cpu(base) + parts.reduce((sum, [, key]) => sum + add(key), 0);
    return {
      name, route, floor, base, measured: cpu(route), required, overhead: cpu(route) - required,
      best: cpu(floor) / required, parts: parts.map(([what]) => what).join(" + "),
    };
  };
  return [
    budget("me", "me", "floor.d1", "floor.d1", [["ES256 verify", "ref.verify"], LOG_LINE]),
    // Since sessions start in the Worker (src/sessions/issue.ts), no sign-in calls the user's object.
    budget("login (warm IP)", "login.warm", "floor.pbkdf2", "floor.pbkdf2", [
      ["limiter call", "ref.dowrite"], ["D1 batch: attempt count + user read", "ref.d1write"],
      ["D1 batch: session insert", "ref.d1write"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
    budget("login (fresh IP)", "login.fresh", "floor.pbkdf2", "floor.pbkdf2", [
      ["limiter call on a new object", "ref.dowrite.new"], ["D1 batch: attempt count + user read", "ref.d1write"],
      ["D1 batch: session insert", "ref.d1write"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
    budget("refresh (warm IP)", "refresh.warm", "floor.do", "floor.json", [
      ["limiter call", "ref.dowrite"], ["user object call", "ref.dowrite"],
      ["D1 batch: session touch + user read", "ref.d1write"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
    budget("refresh (fresh IP)", "refresh.fresh", "floor.do", "floor.json", [
      ["limiter call on a new object", "ref.dowrite.new"], ["user object call", "ref.dowrite"],
      ["D1 batch: session touch + user read", "ref.d1write"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
    budget("guest (warm IP)", "guest.warm", "floor.guest", "floor.guest", [
      ["limiter call", "ref.dowrite"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
    budget("guest (fresh IP)", "guest.fresh", "floor.guest", "floor.guest", [
      ["limiter call on a new object", "ref.dowrite.new"], ["ES256 sign", "ref.sign"], LOG_LINE,
    ]),
  ];
}

/**
 * The feature routes (API.md §9–§13) against the budgets issue 18 gives them, priced with the
 * floor worker: code verify ≈ D1 floor + a DO call, passkey login ≈ a signature check + a DO call,
 * ID-token ≈ a JWT check + a DO call, activity and admin search ≈ one D1 read. "ratio" is
 * budget ÷ measured CPU (1 = the route costs what its budget says). Only routes that ran.
 */
export function featureBudgets(results) {
  const cpu = (key) => results[key]?.serverCpuMsPerRequest;
  const add = (key) => cpu(key) - cpu("floor.json");
  const rows = [
    ["email-code verify", "code.verify", "floor: one D1 read + one DO call", () => cpu("floor.d1") + add("floor.do")],
    ["passkey login", "passkey.login", "one signature check (ES256) + one DO call", () => cpu("ref.verify") + add("floor.do")],
    ["ID-token sign-in", "idtoken.signin", "one JWT check (ES256 priced; the provider signs RS256) + one DO call", () => cpu("ref.verify") + add("floor.do")],
    ["activity", "activity.warm", "floor: one D1 read", () => cpu("floor.d1")],
    // Issue 23: one D1 batch more than a password sign-in's second step (the sign-in batch).
    ["mfa/verify", "mfa.verify", "the sign-in's D1 batch + one D1 batch (the token's try, the count, the reads) + one DO call (the login bucket)", () => cpu("floor.d1") + add("floor.d1") + add("floor.do")],
    ["admin search", "admin.search", "floor: one D1 read", () => cpu("floor.d1")],
  ];
  return rows.filter(([, key]) => cpu(key) !== undefined).map(([name, key, parts, price]) => {
    const budget = price();
    return { name, key, parts, budget, measured: cpu(key), ratio: budget / cpu(key) };
  });
}

/** CPU ms per request by process, as "node / proxy / runtime". */
const split = (byRole) => (byRole ? ["node", "proxy", "runtime"].map((r) => fmt(byRole[r] ?? 0, 2)).join(" / ") : "–");

export function renderMarkdown(run) {
  const lines = [];
  lines.push(`Run ${run.startedAt} (${run.elapsedSeconds} s) of ${run.code}: ${run.settings}.`, "");
  lines.push(
    `Machine: ${run.machine.nproc} CPUs (${run.machine.cpu}), memory ${run.machine.memory}; Node ${run.machine.node}, wrangler ${run.machine.wrangler}. ` +
      `Load average at start ${run.machine.loadAverageAtStart}, at end ${run.loadAverageAtEnd}.`,
    "",
  );
  lines.push(
    "req/s, p50 and p99 pool every round; p99÷p50 is the median of the rounds' own ratios; server CPU is the median of the rounds' CPU per request.",
    "",
    "| Scenario | req/s | p50 ms | p99 ms | p99÷p50 | server CPU ms/req | of which Node / proxy / runtime | answers | wrong answers |",
    "|---|---:|---:|---:|---:|---:|---|---|---:|",
  );
  for (const [key, result] of Object.entries(run.results)) {
    lines.push(
      `| ${run.names[key]}${result.exhausted ? " (ran out of prepared inputs: a shorter window)" : ""} | ${fmt(result.rps)} | ${fmt(result.p50)} | ${fmt(result.p99)} | ${fmt(result.tailRatio)} | ${fmt(result.serverCpuMsPerRequest, 2)} | ${split(result.serverCpuByRole)} | ${Object.entries(result.statuses).map(([s, n]) => `${n}×${s}`).join(", ")} | ${result.failures + result.errors} |`,
    );
  }
  lines.push(
    "",
    "Targets: the ratio of throughputs, as issue 8 defines them; the same ratio on a CPU basis (floor CPU per request ÷ route CPU per request, all processes of each server: Node, proxy workerd, runtime workerd), which a busy shared machine disturbs far less; and on the runtime workerd's CPU alone (the Worker, its objects and D1, without wrangler's proxy and Node, which add the same ~1.3 ms to every route and floor and so flatter every ratio).",
    "",
    "| Target | req/s ratio | met | CPU-basis ratio | met | runtime-only CPU ratio | met | target |",
    "|---|---:|---|---:|---|---:|---|---:|",
  );
  const met = (pass) => (pass ? "yes" : "**no**");
  for (const t of run.ratios) {
    lines.push(
      `| ${t.name} | ${fmt(t.value, 2)} (${t.detail}) | ${met(t.pass)} | ${t.cpu ? `${fmt(t.cpu.value, 2)} (${t.cpu.detail})` : "–"} | ${t.cpu ? met(t.cpu.pass) : "–"} | ${t.runtime ? `${fmt(t.runtime.value, 2)} (${t.runtime.detail})` : "–"} | ${t.runtime ? met(t.runtime.pass) : "–"} | ${t.atMost ? "≤" : "≥"} ${t.target} |`,
    );
  }
  if (run.budgets) {
    lines.push(
      "",
      "Work budget (CPU ms/req): the floor plus what each piece of required work adds to a trivial JSON answer (reference routes), against the measured cost; \"best\" is the floor ÷ that budget, the highest ratio the route could reach here.",
      "",
      "| Route | required work | budget | measured | overhead | best ratio |",
      "|---|---|---:|---:|---:|---:|",
    );
    for (const b of run.budgets) {
      lines.push(`| ${b.name} | ${run.names[b.base]} + ${b.parts} | ${fmt(b.required, 2)} | ${fmt(b.measured, 2)} | ${fmt(b.overhead, 2)} | ${fmt(b.best, 2)} |`);
    }
  }
  if (run.featureBudgets?.length || run.absent?.length) {
    lines.push(
      "",
      "Feature routes (API.md §9–§13) against the budgets of issue 18 (CPU ms/req; ratio = budget ÷ measured):",
      "",
      "| Route | budget | budget ms | measured ms | ratio |",
      "|---|---|---:|---:|---:|",
    );
    for (const f of run.featureBudgets ?? []) lines.push(`| ${f.name} | ${f.parts} | ${fmt(f.budget, 2)} | ${fmt(f.measured, 2)} | ${fmt(f.ratio, 2)} |`);
    for (const a of run.absent ?? []) lines.push(`| ${a.name} | ${a.detail.replace(/\|/g, "/")} | – | – | – |`);
  }
  lines.push("", "| Correctness under load | result |", "|---|---|");
  for (const c of run.checks) lines.push(`| ${c.name} | ${c.pass ? "pass" : "**FAIL**"}: ${c.detail} |`);
  lines.push("", `Bundle: ${run.bundle}.`);
  const samples = Object.entries(run.results).filter(([, r]) => r.failureSamples.length > 0);
  if (samples.length > 0) {
    lines.push("", "Wrong-answer samples:");
    for (const [key, r] of samples) lines.push(`- ${run.names[key]}: ${r.failureSamples.map((s) => `\`${s.replace(/`/g, "'")}\``).join("; ")}`);
  }
  return lines.join("\n");
}

export function writeResults(run, markdown) {
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  const stamp = run.startedAt.replace(/[:.]/g, "-");
  writeFileSync(`${dir}/${stamp}.json`, `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(`${dir}/${stamp}.md`, `${markdown}\n`);
  writeFileSync(`${dir}/latest.md`, `${markdown}\n`);

  const doc = `${ROOT}BENCHMARKS.md`;
  const current = existsSync(doc) ? readFileSync(doc, "utf8") : `# Benchmarks\n\n${START}\n${END}\n`;
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const section = `${START}\n${markdown}\n${END}`;
  const next = start !== -1 && end > start ? current.slice(0, start) + section + current.slice(end + END.length) : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(doc, next);
  return `${dir}/${stamp}.md`;
}
