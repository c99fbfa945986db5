import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error: a plain .mjs module shared with scripts/dev.mjs
import { generateDevKey } from "./scripts/dev-key.mjs";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  const signingKey = await generateDevKey("dev-test");
  const previousKey = await generateDevKey("dev-test-previous");
  const { d: _private, ...previousPublic } = previousKey;
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
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
          },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      silent: "passed-only" as const,
      hookTimeout: 30_000,
    },
  };
});
