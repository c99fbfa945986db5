// Bindings the Vitest config adds for tests only.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_PREVIOUS_SIGNING_KEY: string;
  }
}
