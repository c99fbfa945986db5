#!/usr/bin/env node
/**
 * Prints a new ES256 private JWK for production, with the kid given (not starting with "dev-").
 * Pipe it straight into `wrangler secret put JWT_SIGNING_KEY`; its public part (without "d") is
 * what goes into JWT_PREVIOUS_KEYS at the next rotation.
 *
 * @example
 * node scripts/make-key.mjs prod-2026-11 | npx wrangler secret put JWT_SIGNING_KEY
 */
import { generateSigningKey } from "./dev-key.mjs";

const kid = process.argv[2];
if (!kid || kid.startsWith("dev-")) {
  console.error("usage: node scripts/make-key.mjs <kid>   (the kid must not start with dev-)");
  process.exit(2);
}
process.stdout.write(JSON.stringify(await generateSigningKey(kid)));
