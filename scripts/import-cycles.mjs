#!/usr/bin/env node
/**
 * Finds import cycles among src/ modules, counting type-only imports too (a cycle of types still
 * ties the modules' designs together). Prints each cycle and exits 1 when there is one; with
 * --folders, also prints which folders each folder imports (for docs/layout.md).
 *
 * Usage: node scripts/import-cycles.mjs [--folders]
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(new URL("..", import.meta.url).pathname, "src");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

function resolveImport(from, specifier) {
  if (!specifier.startsWith(".")) return null;
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

const graph = new Map();
for (const file of files(ROOT)) {
  const source = readFileSync(file, "utf8");
  const targets = new Set();
  for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/g)) {
    const target = resolveImport(file, match[1]);
    if (target) targets.add(target);
  }
  for (const match of source.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) {
    const target = resolveImport(file, match[1]);
    if (target) targets.add(target);
  }
  graph.set(file, targets);
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
let index = 0;
const stack = [];
const state = new Map();
const cycles = [];
function visit(node) {
  state.set(node, { index, low: index, onStack: true });
  index++;
  stack.push(node);
  for (const next of graph.get(node) ?? []) {
    if (!state.has(next)) {
      visit(next);
      state.get(node).low = Math.min(state.get(node).low, state.get(next).low);
    } else if (state.get(next).onStack) {
      state.get(node).low = Math.min(state.get(node).low, state.get(next).index);
    }
  }
  if (state.get(node).low === state.get(node).index) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      state.get(member).onStack = false;
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.has(node)) cycles.push(component);
  }
}
for (const node of graph.keys()) if (!state.has(node)) visit(node);

const name = (file) => relative(ROOT, file);
if (process.argv.includes("--folders")) {
  const folderOf = (file) => (name(file).includes("/") ? name(file).split("/")[0] : "(root)");
  const folders = new Map();
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (!folders.has(from)) folders.set(from, new Set());
    for (const target of targets) if (folderOf(target) !== from) folders.get(from).add(folderOf(target));
  }
  for (const [folder, targets] of [...folders].sort()) console.log(`${folder}: ${[...targets].sort().join(", ") || "-"}`);
}
for (const cycle of cycles) console.log(`cycle: ${cycle.map(name).sort().join(" <-> ")}`);
console.log(`${graph.size} modules, ${cycles.length} import cycle(s)`);
process.exit(cycles.length ? 1 : 0);
