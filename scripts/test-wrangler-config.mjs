/**
 * The Wrangler configuration the `workers` test project runs, cut off from the developer's local
 * variables. Wrangler reads `.dev.vars` (or, when there is none, `.env`, `.env.local` and, with
 * CLOUDFLARE_INCLUDE_PROCESS_ENV, the whole shell environment) from the directory of the
 * configuration file, and `@cloudflare/vitest-plugin` hands the result to the test Worker as
 * bindings. So `npm run dev`'s raised limits in `.dev.vars` used to change what `npm test` saw.
 *
 * This writes `wrangler.toml`'s settings, unchanged but for its relative paths (made absolute), as
 * `wrangler.json` into a directory of its own under the system's temporary directory, beside an
 * empty `.dev.vars`. Wrangler then loads that empty file, and neither the checkout's `.dev.vars`
 * nor any `.env` file nor the shell environment reaches the tests. The result is checked against
 * Wrangler's own reading of the original (entry point, assets directory, vars) before it is used.
 *
 * @example
 * // vitest.config.ts
 * cloudflareTest({ wrangler: { configPath: isolatedWranglerConfig("./wrangler.toml") } })
 */
import { createHash } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";

/** Keys whose values are paths relative to the configuration file that this script does not rewrite. */
const UNHANDLED_PATH_KEYS = ["build", "site", "wasm_modules", "text_blobs", "data_blobs", "containers", "env", "tsconfig", "base_dir"];

/**
 * Writes the isolated copy of `configPath` and returns its absolute path.
 *
 * @param {string} configPath the project's Wrangler configuration (TOML or JSON)
 * @returns {string} `<tmpdir>/edge-auth-vitest-<hash of the checkout>/wrangler.json`
 * @throws {Error} when the configuration uses a path-bearing key this script does not rewrite, or
 *   when Wrangler reads the copy differently from the original
 */
export function isolatedWranglerConfig(configPath) {
  const source = resolve(configPath);
  const root = dirname(source);
  const { rawConfig } = experimental_readRawConfig({ config: source });
  const unhandled = UNHANDLED_PATH_KEYS.filter((key) => key in rawConfig);
  if (unhandled.length > 0) throw new Error(`scripts/test-wrangler-config.mjs: rewrite the paths of ${unhandled.join(", ")} too`);

  const config = structuredClone(rawConfig);
  if (config.main) config.main = resolve(root, config.main);
  if (config.assets?.directory) config.assets.directory = resolve(root, config.assets.directory);
  for (const database of config.d1_databases ?? []) {
    if (database.migrations_dir) database.migrations_dir = resolve(root, database.migrations_dir);
  }

  const directory = join(tmpdir(), `edge-auth-vitest-${createHash("sha256").update(root).digest("hex").slice(0, 12)}`);
  mkdirSync(directory, { recursive: true });
  // Present and empty: Wrangler loads it instead of looking any further (.env files, process.env).
  writeFileSync(join(directory, ".dev.vars"), "");
  const target = join(directory, "wrangler.json");
  // Written whole, then renamed: two runs of one checkout may start together.
  const partial = `${target}.${process.pid}`;
  writeFileSync(partial, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(partial, target);

  const original = unstable_readConfig({ config: source });
  const copy = unstable_readConfig({ config: target });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const assets = (read, file) => read.assets?.directory && resolve(dirname(file), read.assets.directory);
  const migrations = (read, file) => read.d1_databases.map((d) => d.migrations_dir && resolve(dirname(file), d.migrations_dir));
  if (
    copy.main !== original.main ||
    assets(copy, target) !== assets(original, source) ||
    !same(migrations(copy, target), migrations(original, source)) ||
    !same(copy.vars, original.vars)
  ) {
    throw new Error(`scripts/test-wrangler-config.mjs: ${target} does not read as ${source} does`);
  }
  return target;
}
