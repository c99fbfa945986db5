import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error: a plain .mjs module shared with scripts/dev.mjs
import { ensureAssets } from "./scripts/assets.mjs";
// @ts-expect-error: a plain .mjs module shared with scripts/dev.mjs
import { generateDevKey, generateMfaKey } from "./scripts/dev-key.mjs";
// @ts-expect-error: a plain .mjs module (the loopback OpenID Providers of the identity tests)
import { prepareOidcTest } from "./scripts/oidc-provider-server.mjs";
// @ts-expect-error: a plain .mjs module (the loopback webhook receiver of the event tests)
import { prepareWebhookTest } from "./scripts/webhook-receiver.mjs";
// @ts-expect-error: a plain .mjs module (wrangler.toml without the developer's .dev.vars)
import { isolatedWranglerConfig } from "./scripts/test-wrangler-config.mjs";

export default defineConfig(async () => {
  // The [assets] directory (Scalar's script for /docs) from the pinned npm package.
  ensureAssets();
  const migrations = await readD1Migrations("./migrations");
  const signingKey = await generateDevKey("dev-test");
  const previousKey = await generateDevKey("dev-test-previous");
  const { d: _private, ...previousPublic } = previousKey;
  // Ports and keys of the loopback OpenID Providers, named in the bindings before they start.
  const oidc = await prepareOidcTest();
  // The port and secrets of the loopback webhook receiver (API.md §16), named in WEBHOOKS.
  const webhooks = await prepareWebhookTest();
  return {
    plugins: [
      cloudflareTest({
        // wrangler.toml as written, read from a directory of its own so that the checkout's
        // .dev.vars (npm run dev's raised limits, say), .env files and the shell never reach the
        // tests (scripts/test-wrangler-config.mjs; `npm run check:dev-vars` proves it).
        wrangler: { configPath: isolatedWranglerConfig("./wrangler.toml") },
        // workerd's verbose mode prints a stack for every exception that crosses into the runtime,
        // even one the code catches (a refused mail, an injected D1 fault): noise in a green run.
        // WORKERD_VERBOSE=1 brings it back for debugging.
        verbose: (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WORKERD_VERBOSE === "1",
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            TEST_PREVIOUS_SIGNING_KEY: JSON.stringify(previousKey),
            ENVIRONMENT: "development",
            PUBLIC_URL: "http://auth.test",
            JWT_SIGNING_KEY: JSON.stringify(signingKey),
            JWT_PREVIOUS_KEYS: JSON.stringify([previousPublic]),
            CORS_ORIGINS: "https://app.example.com",
            REDIRECT_ORIGINS: "https://app.example.com,http://localhost:5173",
            CLIENT_ALIASES: JSON.stringify({ VERIFIER: "https://verifier.example.com/account" }),
            // The admin API (API.md §10) is on in tests; test/admin/ also runs it with the key unset.
            ADMIN_API_KEY: "test-admin-key/0123456789+abcdefghijklmnop=",
            // The second factor (API.md §15) is on in tests: TOTP secrets are encrypted under it.
            MFA_ENCRYPTION_KEY: generateMfaKey(),
            ...oidc.bindings,
            ...webhooks.bindings,
          },
          // Miniflare's local send_email binding, for test/mail.test.ts (MAIL_TRANSPORT=cloudflare).
          email: { send_email: [{ name: "EMAIL", allowed_sender_addresses: ["no-reply@example.com"] }] },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      exclude: ["test/browser/**", "test/sdk/**", "**/node_modules/**"],
      // A real local HTTP mail API (Node), for the HTTP mail transport's tests.
      // Real OpenID Providers (oidc-provider) on loopback, for test/identities/.
      // A siteverify stand-in (Turnstile, API.md §17) on loopback, for test/turnstile/.
      // A real webhook receiver on loopback, checking every attempt with `standardwebhooks`, for test/events/.
      globalSetup: ["./scripts/mail-api-server.mjs", "./scripts/oidc-provider-server.mjs", "./scripts/siteverify-server.mjs", "./scripts/webhook-receiver.mjs"],
      setupFiles: ["./test/setup.ts"],
      // @simplewebauthn/server's @peculiar/* dependencies import extensionless paths, which workerd's
      // module loader cannot resolve; Vite transforms (and so resolves) them first.
      server: { deps: { inline: [/@simplewebauthn\//, /@peculiar\//] } },
      testTimeout: 30_000,
      silent: "passed-only" as const,
      // Off: with it on, a log line from another I/O context (a SELF request, a queue consumer, a
      // waitUntil task) can be parked past a file's last message and stall the run forever
      // (cloudflare/workers-sdk#15498, #15719). test/setup.ts drops the Worker's own JSON log
      // lines instead (WORKER_LOGS=1 prints them); the browser and sdk projects run in Node.
      disableConsoleIntercept: true,
      hookTimeout: 30_000,
      // FC_SEED=<n> replays a fuzz run (test/adversarial/fuzz*.test.ts print their seed).
      provide: {
        FC_SEED: (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.FC_SEED ?? "",
        WORKER_LOGS: (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WORKER_LOGS ?? "",
      },
      projects: [
        // Everything above, inside workerd.
        { extends: true, test: { name: "workers" } },
        // Headless Chromium in Node against a real `wrangler dev` (scripts/browser-test-service.mjs).
        {
          extends: false,
          test: {
            name: "browser",
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./scripts/oidc-provider-server.mjs", "./scripts/browser-test-service.mjs"],
            fileParallelism: false,
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
        // edge-auth/client and edge-auth/server in Node against the real Worker and a second Worker
        // bound to its AuthRpc entrypoint, both started by wrangler (scripts/sdk-test-service.mjs).
        {
          extends: false,
          test: {
            name: "sdk",
            include: ["test/sdk/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./scripts/oidc-provider-server.mjs", "./scripts/sdk-test-service.mjs"],
            testTimeout: 60_000,
            hookTimeout: 180_000,
          },
        },
      ],
    },
  };
});
