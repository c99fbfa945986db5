#!/usr/bin/env node
/**
 * The client core's budget (issue 17): sdk/dist/client/index.js, minified as an app's bundler would,
 * at most 10 KiB gzip. Exits 1 over budget. Run after `npm run build:sdk`.
 *
 * @example
 * npm run check:sdk-size      # "client core: 3.1 KiB gzip (budget 10 KiB)"
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { transform } from "esbuild";

const BUDGET = 10 * 1024;
const source = readFileSync("sdk/dist/client/index.js", "utf8");
if (/\bzod\b|ZodType|z\.object/.test(source)) {
  console.error("client core: zod reached the bundle (its schemas must be type-only imports)");
  process.exit(1);
}
const { code } = await transform(source, { minify: true, format: "esm", target: "es2020" });
const size = gzipSync(code, { level: 9 }).length;
console.log(`client core: ${(size / 1024).toFixed(1)} KiB gzip (budget ${BUDGET / 1024} KiB)`);
if (size > BUDGET) process.exit(1);
