#!/usr/bin/env node
/**
 * `npm run pack:sdk` (issue 26): builds the `edge-auth` package (sdk/, `npm run build:sdk`) and packs
 * it with `npm pack` into .sdk-pack/. The last line printed is the tarball's absolute path, for
 * `npm install <path>` in an app (or in test/sdk/package.test.ts).
 *
 * @example
 * npm run pack:sdk            # … /work/main/.sdk-pack/edge-auth-0.1.0.tgz
 * npm install "$(npm run -s pack:sdk | tail -n1)"
 * npm run -s pack:sdk -- --no-build   # pack sdk/dist as it is
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSdk } from "./build-sdk.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Builds (unless `build: false`) and packs sdk/; resolves with the tarball's absolute path. */
export async function packSdk({ build = true } = {}) {
  if (build) await buildSdk();
  const destination = join(root, ".sdk-pack");
  mkdirSync(destination, { recursive: true });
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const packed = spawnSync(npm, ["pack", "--json", "--pack-destination", destination], { cwd: join(root, "sdk"), encoding: "utf8" });
  if (packed.status !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
  const [{ filename }] = JSON.parse(packed.stdout);
  return join(destination, filename);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --no-build: pack what sdk/dist holds (the sdk test project's global setup has just built it).
  console.log(await packSdk({ build: !process.argv.includes("--no-build") }));
}
