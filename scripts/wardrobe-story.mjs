#!/usr/bin/env node
/**
 * `npm run example:wardrobe` (issue 26; a step of .ci/run): the example app end to end. Packs the
 * SDK (`npm run pack:sdk`) and installs the tarball into examples/wardrobe (offline, from the npm
 * cache), type-checks the app against it, then starts, each with `wrangler dev` and fresh local
 * state under /tmp:
 * - the auth service (development vars and a fresh signing key from an env file of its own, so
 *   the developer's .dev.vars plays no part), and
 * - the wardrobe app, bound to the service's AuthRpc entrypoint,
 * both with `WRANGLER_REGISTRY_PATH` pointing at a registry directory of their own: the app's
 * service binding can reach only this service, never another checkout's `edge-auth` running on
 * the machine. The service's events (API.md §16) go to the app: its env file names the endpoint
 * `wardrobe` in WEBHOOKS (the app's /webhooks on the port picked for it) with a fresh secret
 * WEBHOOK_SECRET_WARDROBE, which the app's env file (and the story) get too; its Queue producer and
 * consumer run inside its `wrangler dev` (local queues, offline), retrying after 1, 2 and 4 s.
 * Then runs examples/wardrobe/story.mjs against them, checks the service logged each refusal the
 * story saw (`rpc.session_refused` with the app's request id and the reason), and that the admin
 * feed shows every event delivered to `wardrobe` (the app acknowledged every type, not only the two
 * it acts on). Exits 1 on any failure, printing both Workers' logs.
 *
 * @example
 * npm run example:wardrobe        # … "story: all steps passed", "wardrobe: ok"
 * KEEP=1 npm run example:wardrobe # keep the state directory (its path is printed)
 * # a broken webhook (the app holds another secret): the story must fail at the merge step
 * WARDROBE_APP_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)" npm run example:wardrobe
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureAssets } from "./assets.mjs";
import { generateDevKey } from "./dev-key.mjs";
import { packSdk } from "./pack-sdk.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const example = join(root, "examples/wardrobe");
// Wrangler needs Node >= 22: the project's pinned Node (the `node` devDependency) when present.
const node = existsSync(join(root, "node_modules/.bin/node")) ? join(root, "node_modules/.bin/node") : process.execPath;
const wrangler = join(root, "node_modules/wrangler/bin/wrangler.js");
const state = mkdtempSync(join(tmpdir(), "wardrobe-story-"));
const registry = join(state, "registry");
const env = {
  ...process.env,
  CI: "true",
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  // The pair's own dev registry: wrangler's is keyed by Worker name, machine-wide by default.
  WRANGLER_REGISTRY_PATH: registry,
};

const children = [];
let stopping = false;
function stop() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}
function fail(message) {
  stopping = true;
  console.error(`wardrobe: FAILED: ${message}`);
  for (const name of ["service", "app"]) {
    const path = join(state, `${name}.log`);
    if (existsSync(path)) console.error(`--- ${name} log (last 60 lines) ---\n${readFileSync(path, "utf8").split("\n").slice(-60).join("\n")}`);
  }
  stop();
  if (!process.env.KEEP) rmSync(state, { recursive: true, force: true });
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { env, encoding: "utf8", ...options });
  if (result.status !== 0) fail(`${[command, ...args].join(" ")}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** `count` distinct free ports on 127.0.0.1 (all held open together while picked). */
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Waits up to 90 s for `url` to answer `status`. */
async function answers(url, status) {
  const deadline = Date.now() + 90_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (response.status === status) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error.cause ?? error);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  fail(`${url} did not answer ${status} (${last})`);
}

/**
 * `wrangler dev` on `port` (its inspector on `inspector`), run in `cwd` (where wrangler looks for
 * the Worker's worker-configuration.d.ts), in its own process group, its output in <state>/<name>.log.
 */
function startWorker(name, args, [port, inspector], cwd = root) {
  const log = createWriteStream(join(state, `${name}.log`));
  const child = spawn(node, [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--show-interactive-dev-session=false", ...args], {
    cwd,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.on("exit", (code, signal) => {
    if (!stopping) fail(`${name}'s wrangler dev exited (${signal ?? code})`);
  });
  children.push(child);
  return `http://127.0.0.1:${port}`;
}

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => fail(`interrupted (${signal})`));

// 1. The package, as an app installs it.
const tarball = await packSdk();
console.log(`wardrobe: packed ${tarball}`);
const install = ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", tarball];
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
if (spawnSync(npm, [...install, "--offline"], { cwd: example, env, stdio: "ignore" }).status !== 0) {
  run(npm, [...install, "--prefer-offline"], { cwd: example });
}
run(node, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(example, "tsconfig.json")]);
console.log("wardrobe: installed edge-auth into examples/wardrobe; the app type-checks against it");

// 2. Both Workers, fresh state each, one private registry.
ensureAssets();
const signingKey = await generateDevKey("dev-wardrobe");
// The app's port is picked first: the service's WEBHOOKS names it.
const [servicePort, serviceInspector, appPort, appInspector] = await freePorts(4);
const webhookSecret = `whsec_${randomBytes(32).toString("base64")}`;
const adminKey = randomBytes(32).toString("base64url");
const serviceEnv = join(state, "service.env");
writeFileSync(
  serviceEnv,
  [
    "ENVIRONMENT=development",
    `JWT_SIGNING_KEY='${JSON.stringify(signingKey)}'`,
    `WEBHOOKS='${JSON.stringify({ wardrobe: { url: `http://127.0.0.1:${appPort}/webhooks` } })}'`,
    `WEBHOOK_SECRET_WARDROBE=${webhookSecret}`,
    // Short retries: a first attempt that fails (the app still starting) is retried within the story's wait.
    "WEBHOOK_RETRY_DELAYS_SECONDS=1,2,4",
    `ADMIN_API_KEY=${adminKey}`,
    "",
  ].join("\n"),
  { mode: 0o600 },
);
run(node, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", join(state, "service")], { cwd: root });
run(node, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", join(state, "app"), "-c", join(example, "wrangler.toml")], { cwd: root });

const serviceUrl = await startWorker("service", ["--persist-to", join(state, "service"), "--env-file", serviceEnv], [servicePort, serviceInspector]);
await answers(`${serviceUrl}/health`, 200);
const appEnv = join(state, "app.env");
writeFileSync(appEnv, `ENVIRONMENT=development\nWEBHOOK_SECRET_WARDROBE=${process.env.WARDROBE_APP_WEBHOOK_SECRET ?? webhookSecret}\n`, { mode: 0o600 });
const appUrl = await startWorker("app", ["-c", join(example, "wrangler.toml"), "--persist-to", join(state, "app"), "--env-file", appEnv], [appPort, appInspector], example);
await answers(`${appUrl}/health`, 200);
await answers(`${appUrl}/items`, 401);
console.log(`wardrobe: service ${serviceUrl}, app ${appUrl}, registry ${registry}`);

// 3. The story, through the installed client SDK.
const storyEnv = { ...env, SERVICE_URL: serviceUrl, APP_URL: appUrl, WEBHOOK_SECRET_WARDROBE: webhookSecret };
// Not spawnSync: the event loop must keep draining both Workers' output into their logs meanwhile
// (a full pipe would stall them, and a failure's log excerpt would miss the story's requests).
const story = await new Promise((resolve) => {
  const child = spawn(node, [join(example, "story.mjs")], { cwd: example, env: storyEnv, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    process.stdout.write(chunk);
  });
  child.on("close", (status) => resolve({ status, stdout }));
});
if (story.status !== 0) {
  await new Promise((resolve) => setTimeout(resolve, 500)); // the Workers' last lines into their logs
  fail("the story failed");
}

// 4. Each refusal the app answered is on the service's log, with its reason.
await new Promise((resolve) => setTimeout(resolve, 500));
const serviceLog = readFileSync(join(state, "service.log"), "utf8");
for (const [, requestId, reason] of story.stdout.matchAll(/^::expect-service-log (\S+) (\S+)$/gm)) {
  const line = serviceLog.split("\n").find((l) => l.includes('"rpc.session_refused"') && l.includes(`"requestId":"${requestId}"`));
  if (!line) fail(`the service logged no rpc.session_refused for request ${requestId}`);
  if (!line.includes(`"reason":"${reason}"`)) fail(`the service's refusal of ${requestId} says ${line}, not ${reason}`);
}
console.log("wardrobe: the service logged each refusal with the app's request id and its reason");

// 5. The admin feed: every event of the run delivered to `wardrobe` (waits up to 20 s for any pending).
const feedDeadline = Date.now() + 20_000;
for (;;) {
  const events = [];
  for (let after = ""; ; ) {
    const response = await fetch(`${serviceUrl}/v1/admin/events?limit=100${after ? `&after=${after}` : ""}`, { headers: { authorization: `Bearer ${adminKey}` } });
    if (response.status !== 200) fail(`GET /v1/admin/events answered ${response.status}: ${await response.text()}`);
    const page = await response.json();
    events.push(...page.events);
    if (!page.nextCursor) break;
    after = page.nextCursor;
  }
  const undelivered = events.filter((e) => e.deliveries.find((d) => d.endpoint === "wardrobe")?.status !== "delivered");
  const types = new Set(events.map((e) => e.type));
  if (undelivered.length === 0 && types.has("user.merged") && types.has("user.deleted")) {
    console.log(`wardrobe: the feed shows all ${events.length} events (${[...types].sort().join(", ")}) delivered to the app`);
    break;
  }
  if (Date.now() > feedDeadline) fail(`events not delivered to the app: ${JSON.stringify(undelivered.map(({ type, deliveries }) => ({ type, deliveries })))}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
}

stopping = true;
stop();
if (process.env.KEEP) console.log(`wardrobe: state kept in ${state}`);
else rmSync(state, { recursive: true, force: true });
console.log("wardrobe: ok");
