#!/usr/bin/env node
/**
 * Serves one Worker for the bench through wrangler's programmatic API, `unstable_startWorker`,
 * instead of `wrangler dev`: no DevTools inspector (so no `Runtime.consoleAPICalled` message per
 * console line, which under `wrangler dev` made one log line cost ~0.9 ms of CPU), no file
 * watching, a fixed loopback port and a fresh persistence directory. The closest a laptop gets to
 * production's runtime: the same workerd, with wrangler's proxy worker in front of it.
 *
 * Runs as its own process (bench/processes.mjs starts it in a new process group, so the CPU of
 * this Node process and of the workerd processes it starts is read per group from /proc). Prints
 * `ready <url>` on stdout once the Worker answers; disposes of it on SIGTERM or SIGINT.
 *
 * Arguments: --config <wrangler.toml> --port <n> --persist <dir> [--var NAME=value ...]
 * [--inspector-port <n>] [--no-minify] (only bench/profile.mjs asks for these: it reads CPU profiles
 * through the inspector, with readable function names).
 * A `.dev.vars` next to the config is read as by `wrangler dev`; `--var` overrides it and the
 * config's [vars].
 *
 * @example
 * node bench/serve.mjs --config bench/wrangler.toml --port 8792 --persist /tmp/floor
 * # → ready http://127.0.0.1:8792/
 */
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";

const { values } = parseArgs({
  options: {
    config: { type: "string" },
    port: { type: "string" },
    persist: { type: "string" },
    var: { type: "string", multiple: true, default: [] },
    "inspector-port": { type: "string" },
    "no-minify": { type: "boolean", default: false },
  },
});
if (!values.config || !values.port || !values.persist) throw new Error("--config, --port and --persist are required");

/** `NAME=value` pairs as plain-text bindings, which win over [vars] and .dev.vars. */
const bindings = Object.fromEntries(
  values.var.map((pair) => {
    const at = pair.indexOf("=");
    return [pair.slice(0, at), { type: "plain_text", value: pair.slice(at + 1) }];
  }),
);

const worker = await unstable_startWorker({
  config: values.config,
  bindings,
  ...(values["no-minify"] ? { build: { minify: false } } : {}),
  dev: {
    inspector: values["inspector-port"] ? { hostname: "127.0.0.1", port: Number(values["inspector-port"]) } : false,
    server: { hostname: "127.0.0.1", port: Number(values.port) },
    persist: values.persist,
    watch: false,
  },
});
await worker.ready;
console.log(`ready ${await worker.url}`);

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  await worker.dispose().catch(() => {});
  process.exit(0);
}
process.on("SIGTERM", close);
process.on("SIGINT", close);
