/**
 * Configurations for testing `loadConfig` (src/config): a production environment that passes every
 * production check, and the reasons a configuration is refused.
 *
 * @example
 * expect(configReasons(productionEnv({ PUBLIC_URL: "" })).join()).toMatch(/PUBLIC_URL/);
 */
import { env } from "./http";
import { ConfigError, loadConfig } from "../../src/config";

/** The development signing key under a production key id (production refuses the development one). */
const productionKey = () => JSON.stringify({ ...JSON.parse(env.JWT_SIGNING_KEY as string), kid: "prod-2026-11" });

/** The test environment as production would accept it, with `overrides` on top. */
export const productionEnv = (overrides: Record<string, unknown> = {}) => ({
  ...env,
  ENVIRONMENT: "production",
  JWT_SIGNING_KEY: productionKey(),
  MAIL_TRANSPORT: "http",
  MAIL_API_KEY: "re_test_key",
  PUBLIC_URL: "https://auth.example.com",
  // The test bindings may name loopback (http) OpenID Providers, which production refuses.
  OIDC_PROVIDERS: "{}",
  // …and a loopback (http) webhook receiver (test/events), which production refuses too.
  WEBHOOKS: "{}",
  ...overrides,
});

/** The reasons `loadConfig` refuses `input` for (ConfigError.reasons); [] when it accepts it. */
export function configReasons(input: object): string[] {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.reasons;
    throw error;
  }
  return [];
}
