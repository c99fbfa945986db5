/**
 * Starts and stops the servers the bench measures, each through bench/serve.mjs, which serves a
 * Worker with wrangler's `unstable_startWorker` (no inspector, no file watching) on a fresh
 * persistence directory: the service (wrangler.toml; its D1 migrations applied first, and a fresh
 * development signing key in the snapshot's .dev.vars, as scripts/dev.mjs does) and the floor
 * worker (bench/wrangler.toml). Each runs in its own process group, so its CPU (Node, the proxy
 * workerd and the runtime workerd) is read per group, and stopping it ends the group and nothing
 * else. `X_LOCAL_OBSERVABILITY=false`, because local dev otherwise keeps a trace of every request,
 * which costs ~3x on trivial routes.
 *
 * Servers run from a snapshot of the checkout (`snapshot`), not from the checkout itself: it pins
 * the code the numbers belong to while others edit the checkout.
 *
 * @example
 * import { snapshot, startService, stop } from "./processes.mjs";
 * const cwd = snapshot("/tmp/x/app");
 * const service = await startService({ cwd, port: 8790, persistTo: "/tmp/x/state", vars: { A: "1" }, log: "svc.log" });
 * await stop(service);
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import { generateDevKey, generateMfaKey } from "../scripts/dev-key.mjs";

export const ROOT = new URL("..", import.meta.url).pathname;

/** What the Workers read; .dev.vars is left out (`startService` writes a fresh one). */
const SNAPSHOT = [
  "src", "migrations", "scripts", "assets", "wrangler.toml", "package.json", "tsconfig.json", "worker-configuration.d.ts",
  "bench/floor-worker.ts", "bench/wrangler.toml",
];

/** Copies the files the servers need into `dir` (node_modules linked, not copied); returns `dir`. */
export function snapshot(dir) {
  mkdirSync(`${dir}/bench`, { recursive: true });
  for (const path of SNAPSHOT) {
    if (existsSync(`${ROOT}${path}`)) cpSync(`${ROOT}${path}`, `${dir}/${path}`, { recursive: true });
  }
  symlinkSync(`${ROOT}node_modules`, `${dir}/node_modules`);
  return dir;
}
const running = new Set();

const env = {
  ...process.env,
  CI: "true",
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  X_LOCAL_OBSERVABILITY: "false",
};

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.setTimeout(2000, () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

async function waitReady(server, path, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`${server.name} exited with ${server.child.exitCode}; see ${server.log}`);
    if ((await get(`${server.url}${path}`)) === 200) return server;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${server.name} did not answer ${path} within ${timeoutMs / 1000} s; see ${server.log}`);
}

const SERVE = new URL("./serve.mjs", import.meta.url).pathname;

function launch(name, args, { port, log, cwd = ROOT }) {
  const out = openSync(log, "a");
  // Node itself (process.execPath), not npx: one process fewer in the group, nothing to resolve.
  const child = spawn(process.execPath, [SERVE, "--port", String(port), ...args], { cwd, env, detached: true, stdio: ["ignore", out, out] });
  const server = { name, child, url: `http://127.0.0.1:${port}`, log };
  running.add(server);
  return server;
}

const varArgs = (vars) => Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}=${value}`]);

/**
 * The auth service on a fresh state directory, with `vars` overriding wrangler.toml. As
 * scripts/dev.mjs does for `npm run dev`: the D1 migrations are applied to that directory first,
 * and the snapshot gets a .dev.vars with ENVIRONMENT=development and a new signing key.
 * `inspectorPort` only for bench/profile.mjs (an open inspector costs CPU on every console line).
 * `config`: another wrangler config in the snapshot (bench/far/run.mjs serves bench/far/entry.ts so).
 */
export async function startService({ port, inspectorPort, persistTo, vars = {}, log, cwd, minify = true, config = "wrangler.toml" }) {
  if (!existsSync(`${cwd}/.dev.vars`)) {
    const key = await generateDevKey("bench");
    writeFileSync(`${cwd}/.dev.vars`, `ENVIRONMENT=development\nJWT_SIGNING_KEY='${JSON.stringify(key)}'\nMFA_ENCRYPTION_KEY=${generateMfaKey()}\n`, { mode: 0o600 });
  }
  const migrate = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], { cwd, env, stdio: ["ignore", openSync(log, "a"), openSync(log, "a")] });
  if (migrate.status !== 0) throw new Error(`applying the D1 migrations failed; see ${log}`);
  const args = ["--config", `${cwd}/${config}`, "--persist", persistTo, ...varArgs(vars), ...(inspectorPort ? ["--inspector-port", String(inspectorPort)] : []), ...(minify ? [] : ["--no-minify"])];
  return waitReady(launch(`service :${port}`, args, { port, log, cwd }), "/health");
}

/** The bench-only floor worker, with its D1 tables created and filled. */
export async function startFloor({ port, persistTo, log, cwd }) {
  const args = ["--config", `${cwd}/bench/wrangler.toml`, "--persist", persistTo];
  const server = await waitReady(launch(`floor :${port}`, args, { port, log, cwd }), "/json");
  const setup = await new Promise((resolve, reject) => {
    const req = http.request(`${server.url}/setup`, { method: "POST" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end();
  });
  if (setup !== 200) throw new Error(`floor setup answered ${setup}`);
  return server;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * CPU time (user + system, ms) used so far by each process of the server's group (Node running serve.mjs, the
 * proxy workerd, the runtime workerd), by pid. Unlike req/s on a shared machine, the CPU a request
 * costs barely depends on what else runs, so the bench reports both. See `cpuDelta`.
 */
export function cpuByProcess(server) {
  const byPid = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name, which may itself hold spaces and parentheses.
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === server.child.pid) {
      byPid.set(entry, { name, role: role(entry, name, server), ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS });
    }
  }
  return byPid;
}

/**
 * What a process of the group is: "node" (serve.mjs and wrangler), "proxy" (the workerd that listens
 * on the server's port: wrangler's proxy worker), "runtime" (the workerd that runs the Worker, its
 * objects and D1), or its own name (esbuild).
 */
function role(pid, name, server) {
  if (name !== "workerd") return name === "node" || name === "MainThread" ? "node" : name;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(`entry=${new URL(server.url).host}`) ? "proxy" : "runtime";
  } catch {
    return "runtime";
  }
}

/** CPU ms by role (see `role`) spent between two `cpuByProcess` readings. */
export function cpuDeltaByRole(before, after) {
  const byRole = {};
  for (const [pid, { role: r, ms: now }] of after) byRole[r] = (byRole[r] ?? 0) + now - (before.get(pid)?.ms ?? 0);
  return byRole;
}

/** CPU ms spent between two `cpuByProcess` readings; a process that exited meanwhile is left out. */
export function cpuDelta(before, after) {
  let ms = 0;
  for (const [pid, { ms: now }] of after) ms += now - (before.get(pid)?.ms ?? 0);
  return ms;
}

/** Ends the server's whole process group and waits for it to exit. */
export async function stop(server) {
  if (!running.delete(server) || server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  try {
    process.kill(-server.child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-server.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...running].map(stop));
}

/** Synchronous last resort on exit: the groups this process started, and only those. */
export function killAllSync() {
  for (const server of running) {
    try {
      process.kill(-server.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
