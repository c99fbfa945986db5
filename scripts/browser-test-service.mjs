/**
 * Vitest globalSetup of the browser project (runs in Node, so plain JavaScript: the project has no
 * Node type definitions): starts the service for real with
 * `wrangler dev` (through scripts/dev.mjs, which applies the D1 migrations first) on 127.0.0.1,
 * with its state in a fresh directory under /tmp and a fresh random ADMIN_API_KEY (the admin
 * console's tests), waits for /health, hands the URL to the tests as `inject("serviceUrl")` and the
 * key as `inject("adminKey")`, and the webhook endpoint it names in WEBHOOKS (`console`) as
 * `inject("consoleWebhook")`. That endpoint is a loopback receiver (scripts/webhook-receiver.mjs)
 * started here before the service and held until the end, so no other process can take its port
 * while the run goes on; it refuses (503) every attempt until a test posts a rule to it. Afterwards
 * it stops the receiver and the whole process group and removes the state.
 * BROWSER_TEST_PORT picks the port (the inspector takes the next one); by default the system hands
 * out free ones, so two test runs on one machine do not collide.
 *
 * @example
 * // vitest.config.ts, project "browser": globalSetup: ["./scripts/browser-test-service.mjs"]
 * const base = inject("serviceUrl"); // "http://127.0.0.1:41237"
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateDevKey, generateMfaKey } from "./dev-key.mjs";
import { startWebhookReceiver } from "./webhook-receiver.mjs";

const CHROMIUM = "/usr/bin/chromium";
const STARTUP_MS = 90_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string} url */
async function healthy(url) {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Two distinct ports no one listens on now, as the system hands them out. */
async function freePorts() {
  const servers = [createServer(), createServer()];
  const ports = await Promise.all(
    servers.map((server) => new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(/** @type {import("node:net").AddressInfo} */ (server.address()).port));
    })),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  if (!existsSync(CHROMIUM)) {
    const installed = spawnSync("bash", ["scripts/ensure-browser.sh"], { stdio: "inherit" });
    if (installed.status !== 0 || !existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: run \`bash scripts/ensure-browser.sh\``);
  }
  const fixed = Number(process.env.BROWSER_TEST_PORT);
  const [port, inspectorPort] = fixed ? [fixed, fixed + 1] : await freePorts();
  const url = `http://127.0.0.1:${port}`;
  if (await healthy(url)) throw new Error(`something already serves ${url}; stop it or set BROWSER_TEST_PORT`);

  const state = mkdtempSync(join(tmpdir(), "edge-auth-browser-"));
  const logPath = join(state, "wrangler.log");
  // The service's development variables live with its state, never in the checkout's .dev.vars.
  const envFile = join(state, "dev.vars");
  const key = await generateDevKey("dev-browser-test");
  // Set by scripts/oidc-provider-server.mjs: the loopback OpenID Provider of the identity tests.
  const { REDIRECT_ORIGINS: providerApp, ...oidcVars } = JSON.parse(process.env.OIDC_TEST_WRANGLER_VARS ?? "{}");
  // The service's own origin may be a mail's baseUrl, so the pages' link back to the app is testable;
  // the provider's test app is the web sign-in's redirect_uri.
  const redirectOrigins = [url, providerApp].filter(Boolean).join(",");
  const adminKey = randomBytes(32).toString("base64url");
  // One webhook endpoint, `console`, at a receiver held for the whole run: it refuses (503) every
  // attempt until the admin console's event test posts a rule, so deliveries fail fast; short retries.
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const receiver = await startWebhookReceiver({ secrets: { console: secret }, defaultStatus: 503 });
  const webhook = { url: receiver.url, secret };
  writeFileSync(
    envFile,
    [
      "ENVIRONMENT=development",
      `REDIRECT_ORIGINS=${redirectOrigins}`,
      `JWT_SIGNING_KEY='${JSON.stringify(key)}'`,
      `ADMIN_API_KEY=${adminKey}`,
      `WEBHOOKS='${JSON.stringify({ console: { url: `${receiver.url}/hooks/console` } })}'`,
      `WEBHOOK_SECRET_CONSOLE=${webhook.secret}`,
      "WEBHOOK_RETRY_DELAYS_SECONDS=1,1",
      `MFA_ENCRYPTION_KEY=${generateMfaKey()}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const log = openSync(logPath, "a");
  const child = spawn(
    process.execPath,
    [
      "scripts/dev.mjs",
      ...["--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)],
      ...["--persist-to", join(state, "wrangler"), "--env-file", envFile, "--show-interactive-dev-session=false"],
      // Passkeys need a domain as RP ID (never an IP address): tests open the pages on localhost.
      ...["--var", "WEBAUTHN_RP_ID:localhost", "--var", `WEBAUTHN_ORIGINS:http://localhost:${port}`],
      ...Object.entries(oidcVars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    {
      detached: true, // its own process group, so teardown stops wrangler and workerd too
      stdio: ["ignore", log, log],
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    },
  );
  let exited = false;
  child.on("exit", () => void (exited = true));

  const stop = async () => {
    if (!exited && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await receiver.close();
    rmSync(state, { recursive: true, force: true });
  };

  const deadline = Date.now() + STARTUP_MS;
  while (!(await healthy(url))) {
    if (exited || Date.now() > deadline) {
      const tail = readFileSync(logPath, "utf8").split("\n").slice(-30).join("\n");
      await stop();
      throw new Error(`wrangler dev did not become healthy on ${url}:\n${tail}`);
    }
    await sleep(250);
  }
  project.provide("serviceUrl", url);
  project.provide("adminKey", adminKey);
  project.provide("consoleWebhook", webhook);
  return stop;
}
