#!/usr/bin/env node
/**
 * `npm run dev -- [wrangler dev args]`: copies the static assets (scripts/assets.mjs), applies the
 * local D1 migrations to the same state directory `wrangler dev` will use (its --persist-to, if
 * given), writes a git-ignored .dev.vars with a fresh ES256 key and ENVIRONMENT=development when it
 * has none, and an MFA_ENCRYPTION_KEY when it has none (unless the caller names its own variables with --env-file, as the browser tests do, so
 * they never write into the checkout), then runs `wrangler dev` with every argument passed through.
 * Offline by default: no metrics, and no fetch of Cloudflare's request.cf data (whose failure
 * offline prints a stack trace at start).
 *
 * @example
 * npm run dev -- --ip 127.0.0.1 --port 8790 --persist-to /tmp/x
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ensureAssets } from "./assets.mjs";
import { generateDevKey, generateMfaKey } from "./dev-key.mjs";

const args = process.argv.slice(2);
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
  CI: process.env.CI ?? "true",
};

function option(name) {
  const index = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (index === -1) return undefined;
  const arg = args[index];
  return arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[index + 1];
}

async function ensureDevVars() {
  const path = ".dev.vars";
  const current = existsSync(path) ? readFileSync(path, "utf8") : "";
  const lines = [];
  if (!/^ENVIRONMENT=/m.test(current)) lines.push("ENVIRONMENT=development");
  if (!/^JWT_SIGNING_KEY=/m.test(current)) {
    const key = await generateDevKey();
    lines.push(`JWT_SIGNING_KEY='${JSON.stringify(key)}'`);
    console.log(`dev: wrote a new development signing key (kid ${key.kid}) to .dev.vars`);
  }
  if (!/^MFA_ENCRYPTION_KEY=/m.test(current)) {
    // The key TOTP secrets are encrypted under (API.md §15); without it enrolment is off.
    lines.push(`MFA_ENCRYPTION_KEY=${generateMfaKey()}`);
    console.log("dev: wrote a new second-factor encryption key (MFA_ENCRYPTION_KEY) to .dev.vars");
  }
  if (lines.length > 0) writeFileSync(path, `${current}${current && !current.endsWith("\n") ? "\n" : ""}${lines.join("\n")}\n`, { mode: 0o600 });
}

ensureAssets();
if (option("--env-file") === undefined) await ensureDevVars();

const persistTo = option("--persist-to");
const migrate = ["wrangler", "d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
const migrated = spawnSync("npx", migrate, { stdio: "inherit", env });
if (migrated.status !== 0) {
  console.error("dev: applying the local D1 migrations failed");
  process.exit(migrated.status ?? 1);
}

// Passkeys locally (API.md §12; /_dev/passkeys): with neither PUBLIC_URL nor WEBAUTHN_ORIGINS set, the
// relying party would accept no origin at all, so every registration fails. The page as `wrangler dev`
// serves it, http://localhost:<port>, is the origin to accept (the RP ID is then `localhost`: open it
// at localhost, not 127.0.0.1). Set either variable (.dev.vars, --env-file or --var) to choose another.
const varsFile = option("--env-file") ?? ".dev.vars";
const vars = existsSync(varsFile) ? readFileSync(varsFile, "utf8") : "";
const named = (name) => new RegExp(`^${name}=(?![ \\t]*$)`, "m").test(vars) || args.some((a) => a.startsWith(`${name}:`) || a.startsWith(`${name}=`));
if (!named("PUBLIC_URL") && !named("WEBAUTHN_ORIGINS")) args.push("--var", `WEBAUTHN_ORIGINS:http://localhost:${option("--port") ?? "8787"}`);

// wrangler's own launcher, run directly (not through npx, which does not pass a SIGTERM on), so
// stopping this process by its pid stops wrangler and workerd too, as Ctrl-C does; by the pinned
// Node 24 of node_modules, as npx would, even when this script was started by an older one.
const wranglerBin = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const pinnedNode = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
const child = spawn(existsSync(pinnedNode) ? pinnedNode : process.execPath, [wranglerBin, "dev", ...args], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
