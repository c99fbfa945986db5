#!/usr/bin/env node
/**
 * `npm run check:tour`: types the README's five-minute tour, and the one-per-door examples of
 * docs/http.md, into bash as a slow human would, against a fresh `npm run dev`, and fails when a
 * command fails. Between two commands it waits `--pause` seconds (11 by default: longer than the 10 s
 * refresh-token reuse window, so a step that sent an already rotated refresh token would end the
 * session and every later step would fail).
 *
 * The service runs on a free port of 127.0.0.1 with its state, its variables (a fresh development key)
 * and its wrangler registry in a temporary directory, so the check writes nothing into the checkout
 * and no other local service answers. Each ```sh block of the two sections is split into commands (a
 * line, with its `\` continuations); `AUTH=http://localhost:8787` is pointed at the check's service.
 *
 * It fails when a command exits non-zero, when a command's output holds a JSON error (`"error":"…"`),
 * except for the tour's last command, which must answer `invalid_token` (the deleted account), when
 * a `-w '%{http_code}'` command prints anything but 2xx, or when a variable the commands capture
 * (`NAME=$(…)`) comes out empty.
 *
 * @example
 * npm run check:tour                 # about 5 minutes
 * npm run check:tour -- --pause 2    # quicker; under ~6 s the §6 limits (2 sign-outs a minute) may bite
 */
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateDevKey } from "./dev-key.mjs";

const { values } = parseArgs({ options: { pause: { type: "string", default: "11" }, keep: { type: "boolean", default: false } } });
const pause = Number(values.pause);

/** The ```sh blocks of the section of `file` that starts with the heading `heading`. */
function shellBlocks(file, heading) {
  const text = readFileSync(file, "utf8");
  const start = text.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`${file}: no section "${heading}"`);
  const level = heading.split(" ")[0];
  const rest = text.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n${level} `));
  const section = next === -1 ? rest : rest.slice(0, next);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** Commands of a block: a line with its `\` continuations; comments and blank lines dropped. */
function commands(block) {
  const result = [];
  let current = "";
  for (const line of block.split("\n")) {
    current = current ? `${current}\n${line}` : line;
    if (line.endsWith("\\")) continue;
    if (current.trim() && !current.trim().startsWith("#")) result.push(current);
    current = "";
  }
  return result;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The bash session of one section, running; a signal to this script ends it (see `stop`). */
let bash;
/** Runs `script` in bash; resolves with its stdout and stderr. */
function runBash(script) {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    bash = spawn("bash", ["-c", script], { env: { ...process.env, LC_ALL: "C" } });
    bash.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    bash.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    bash.on("close", () => resolve({ stdout, stderr }));
  });
}

const sections = [
  { name: "README.md, A five-minute tour", file: "README.md", heading: "## A five-minute tour", endsDeleted: true },
  { name: "docs/http.md, Examples, one per door", file: "docs/http.md", heading: "## Examples, one per door", endsDeleted: false },
];

const state = mkdtempSync(join(tmpdir(), "edge-auth-tour-"));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const envFile = join(state, "dev.vars");
const key = await generateDevKey("dev-tour");
writeFileSync(envFile, `ENVIRONMENT=development\nJWT_SIGNING_KEY='${JSON.stringify(key)}'\n`, { mode: 0o600 });
const log = openSync(join(state, "wrangler.log"), "a");
const env = {
  ...process.env,
  CI: "true",
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_REGISTRY_PATH: join(state, "registry"),
};
const service = spawn(
  process.execPath,
  ["scripts/dev.mjs", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", join(state, "wrangler"), "--env-file", envFile, "--show-interactive-dev-session=false"],
  { detached: true, stdio: ["ignore", log, log], env },
);
let exited = false;
service.on("exit", () => void (exited = true));
const stop = async () => {
  bash?.kill("SIGTERM");
  if (!exited && service.pid) {
    try {
      process.kill(-service.pid, "SIGTERM");
    } catch {
      // already gone
    }
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
  }
  if (!values.keep) rmSync(state, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => void stop().then(() => process.exit(1)));

let failures = 0;
try {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (exited || Date.now() > deadline) throw new Error(`the service did not start; see ${join(state, "wrangler.log")} (run with --keep)`);
    await sleep(500);
  }

  for (const section of sections) {
    const list = shellBlocks(section.file, section.heading).flatMap(commands);
    if (list.length === 0) throw new Error(`${section.name}: no commands`);
    console.log(`\n::: ${section.name}: ${list.length} commands, ${pause} s apart`);
    // One bash session per section, as one terminal; each command's output between markers.
    const script = list
      .map((command, i) => {
        const captured = [...command.matchAll(/(?:^|;\s*)([A-Z_][A-Z0-9_]*)=\$\(/g)].map((m) => m[1]);
        const checks = captured.map((name) => `[ -n "$${name}" ] || echo "::empty ${name}"`).join("\n");
        // Markers on lines of their own: an answer printed without a final newline ends the line.
        const run = command.replace(/^AUTH=http:\/\/localhost:8787$/m, `AUTH=${url}`);
        return [`printf '\\n::command ${i}\\n'`, run, `status=$?; printf '\\n::status %s\\n' "$status"`, checks, i < list.length - 1 ? `sleep ${pause}` : ""].join("\n");
      })
      .join("\n");
    const shell = await runBash(script);
    const outputs = shell.stdout.split(/^::command \d+\n/m).slice(1);
    outputs.forEach((output, i) => {
      const firstLine = list[i].split("\n")[0];
      const problems = [];
      const status = output.match(/^::status (\d+)$/m)?.[1];
      if (status !== "0") problems.push(`exit status ${status}`);
      for (const name of output.matchAll(/^::empty (\w+)$/gm)) problems.push(`${name[1]} is empty`);
      const body = output.replace(/^::.*\n?/gm, "");
      const last = section.endsDeleted && i === list.length - 1;
      if (last && !body.includes('"invalid_token"')) problems.push("the deleted account's token was not refused with invalid_token");
      if (!last && /"error":"/.test(body)) problems.push(`an error: ${body.match(/\{[^\n]*"error":"[^\n]*/)?.[0].slice(0, 200)}`);
      if (list[i].includes("%{http_code}")) {
        const code = body.trim().split("\n").find((l) => /^\d{3}$/.test(l));
        if (!code?.startsWith("2")) problems.push(`HTTP ${code}`);
      }
      console.log(`${problems.length ? "FAIL" : "ok  "} ${firstLine.slice(0, 110)}`);
      for (const problem of problems) console.log(`       ${problem}`);
      failures += problems.length ? 1 : 0;
    });
    if (outputs.length !== list.length) {
      console.log(`FAIL only ${outputs.length} of ${list.length} commands ran\n${shell.stderr}`);
      failures += 1;
    }
    if (shell.stderr.trim()) console.log(`stderr:\n${shell.stderr}`);
  }
} catch (error) {
  console.error(String(error));
  failures += 1;
} finally {
  await stop();
}
console.log(failures === 0 ? "\ncheck:tour: every command worked" : `\ncheck:tour: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
