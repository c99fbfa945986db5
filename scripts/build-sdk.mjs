#!/usr/bin/env node
/**
 * `npm run build:sdk` (API.md §14): bundles sdk/client and sdk/server with esbuild into
 * dist/client/index.js and dist/server/index.js (ESM), and writes their declarations with tsc
 * (dist/types, re-exported by dist/<name>/index.d.ts). The client bundles everything it uses (no
 * zod: its types are type-only imports); the server helper leaves jose and hono to the importer.
 * `buildClientBundle()` is also what the browser tabs test serves to Chromium.
 *
 * @example
 * npm run build:sdk           # dist/client/index.js, dist/server/index.js, .d.ts beside them
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const common = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  // Hermes (React Native) and older Safari: no ??= or class static blocks.
  target: "es2020",
  legalComments: "none",
  logLevel: "warning",
};

/** The client as one ESM string (minified when asked), without touching dist/. */
export async function buildClientBundle({ minify = false } = {}) {
  const result = await build({ ...common, entryPoints: [join(root, "sdk/client/index.ts")], write: false, minify });
  return result.outputFiles[0].text;
}

export async function buildSdk() {
  await build({ ...common, entryPoints: [join(root, "sdk/client/index.ts")], outfile: join(root, "dist/client/index.js") });
  await build({
    ...common,
    entryPoints: [join(root, "sdk/server/index.ts")],
    outfile: join(root, "dist/server/index.js"),
    external: ["jose", "hono", "hono/*"],
  });
  const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.sdk.json")], { stdio: "inherit" });
  if (tsc.status !== 0) throw new Error("tsc could not write the SDK's declarations");
  for (const name of ["client", "server"]) {
    mkdirSync(join(root, "dist", name), { recursive: true });
    writeFileSync(join(root, "dist", name, "index.d.ts"), `export * from "../types/sdk/${name}/index.js";\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildSdk();
  console.log("build:sdk: dist/client/index.js, dist/server/index.js and their .d.ts");
}
