/**
 * Vitest globalSetup of the `sdk` project (runs in Node): builds the SDK (`npm run build:sdk`), then
 * serves the real Worker with wrangler's `unstable_startWorker` on 127.0.0.1 (fresh D1 state under
 * /tmp with the migrations applied first, as scripts/dev.mjs does; development vars; a fresh dev
 * signing key and a published previous key), plus a second Worker, test/sdk/fixtures/consumer.ts,
 * that binds the first one's `AuthRpc` entrypoint through a service binding (both share one dev
 * registry directory). Hands the URLs and the test keys to the tests through `inject`.
 *
 * @example
 * // vitest.config.ts, project "sdk": globalSetup: ["./scripts/sdk-test-service.mjs"]
 * const base = inject("sdkServiceUrl");   // "http://127.0.0.1:40123"
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";
import { buildSdk } from "./build-sdk.mjs";
import { generateDevKey, generateMfaKey } from "./dev-key.mjs";

const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
Object.assign(process.env, { WRANGLER_LOG: process.env.WRANGLER_LOG ?? "warn", CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" });

const text = (value) => ({ type: "plain_text", value });

/** Waits up to 60 s for `url` to answer `status`. */
async function answers(url, status) {
  const deadline = Date.now() + 60_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (response.status === status) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer ${status} (${last})`);
}

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  await buildSdk();
  const state = mkdtempSync(join(tmpdir(), "edge-auth-sdk-"));
  const persist = join(state, "wrangler");
  const registry = join(state, "registry");
  mkdirSync(registry, { recursive: true });
  const migrated = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { stdio: "pipe", env });
  if (migrated.status !== 0) throw new Error(`D1 migrations failed:\n${migrated.stdout}\n${migrated.stderr}`);

  const signingKey = await generateDevKey("dev-sdk");
  const previousKey = await generateDevKey("dev-sdk-previous");
  const { d: _private, ...previousPublic } = previousKey;

  // Each Worker its own state directory: two workerd processes on one directory fight over its
  // SQLite files (SQLITE_BUSY at start-up).
  const dev = (dir) => ({ inspector: false, server: { hostname: "127.0.0.1", port: 0 }, persist: dir, watch: false, registry });
  const service = await unstable_startWorker({
    config: "wrangler.toml",
    envFiles: [join(state, "no.dev.vars")], // not the checkout's .dev.vars (a file that does not exist: no variables)
    bindings: {
      ENVIRONMENT: text("development"),
      JWT_SIGNING_KEY: text(JSON.stringify(signingKey)),
      JWT_PREVIOUS_KEYS: text(JSON.stringify([previousPublic])),
      MFA_ENCRYPTION_KEY: text(generateMfaKey()),
      PUBLIC_URL: text(""),
      // What the software authenticator of test/helpers/webauthn.ts signs (an RP ID cannot be an IP).
      WEBAUTHN_RP_ID: text("auth.test"),
      WEBAUTHN_ORIGINS: text("http://auth.test"),
      // The loopback OpenID Provider (scripts/oidc-provider-server.mjs, the globalSetup before this one).
      ...Object.fromEntries(Object.entries(JSON.parse(process.env.OIDC_TEST_WRANGLER_VARS ?? "{}")).map(([key, value]) => [key, text(value)])),
    },
    dev: dev(persist),
  });
  let consumer;
  const stop = async () => {
    await consumer?.dispose().catch(() => {});
    await service.dispose().catch(() => {});
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await service.ready;
    const serviceUrl = (await service.url).origin;
    consumer = await unstable_startWorker({
      config: "test/sdk/fixtures/wrangler.toml",
      bindings: { SERVICE_URL: text(serviceUrl) },
      dev: dev(join(state, "consumer")),
    });
    await consumer.ready;
    const consumerUrl = (await consumer.url).origin;
    // Both answer before any test runs (a Worker that failed to start would time every test out).
    await answers(`${serviceUrl}/health`, 200);
    await answers(`${consumerUrl}/rpc/me`, 401);
    project.provide("sdkServiceUrl", serviceUrl);
    project.provide("sdkConsumerUrl", consumerUrl);
    project.provide("sdkKeys", { signing: signingKey, previous: previousKey });
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}
