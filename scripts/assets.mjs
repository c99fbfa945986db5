#!/usr/bin/env node
/**
 * Populates the Worker's static assets directory (`assets/`, git-ignored, `[assets]` in
 * wrangler.toml) from pinned npm packages, so /docs loads nothing from elsewhere: Scalar's
 * standalone API reference script from `@scalar/api-reference` (exact version in package.json).
 * Runs after `npm ci`/`npm install` (postinstall), at `npm run dev`, `npm run build` and when
 * vitest loads its config; it copies only when the file is missing or differs.
 *
 * @example
 * node scripts/assets.mjs   // → assets/docs/scalar-standalone.js
 * import { ensureAssets } from "./scripts/assets.mjs"; ensureAssets();
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Source (resolved from node_modules) → destination (under assets/). */
const FILES = [["@scalar/api-reference/dist/browser/standalone.js", "docs/scalar-standalone.js"]];

export function ensureAssets() {
  for (const [source, target] of FILES) {
    const from = join(root, "node_modules", source);
    if (!existsSync(from)) throw new Error(`assets: ${from} is missing; run npm ci`);
    const to = join(root, "assets", target);
    if (existsSync(to) && statSync(to).size === statSync(from).size && readFileSync(to).equals(readFileSync(from))) continue;
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) ensureAssets();
