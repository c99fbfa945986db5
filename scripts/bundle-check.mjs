#!/usr/bin/env node
/**
 * Builds the Worker as `wrangler deploy` would (`--dry-run`, offline) and fails when the gzipped
 * bundle exceeds the budget (400 KiB). It was 250 KiB until passkeys: @simplewebauthn/server brings
 * certificate-parsing packages (@peculiar/*, asn1) it loads even for attestation "none" (~100 KiB
 * gzip); zod's message locales are another ~38 KiB (docs/testing.md, "CI, bundle budget and benchmarks"). Cloudflare's own
 * limit is 3 MiB gzip (Free) / 10 MiB (Paid); the budget is there to notice growth.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { ensureAssets } from "./assets.mjs";

const BUDGET = 400 * 1024;
ensureAssets(); // wrangler wants the [assets] directory; assets are not part of the bundle
execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", "dist"], { stdio: "inherit" });
const files = readdirSync("dist").filter((f) => f.endsWith(".js"));
const raw = files.reduce((sum, f) => sum + readFileSync(`dist/${f}`).length, 0);
const gzip = files.reduce((sum, f) => sum + gzipSync(readFileSync(`dist/${f}`), { level: 9 }).length, 0);
console.log(`bundle: ${(raw / 1024).toFixed(1)} KiB raw, ${(gzip / 1024).toFixed(1)} KiB gzip (budget ${BUDGET / 1024} KiB gzip)`);
if (gzip > BUDGET) {
  console.error("bundle: over budget");
  process.exit(1);
}
