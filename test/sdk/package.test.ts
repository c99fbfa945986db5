/**
 * The `edge-auth` package as an app installs it (issue 26): `npm run pack:sdk` packs sdk/, the
 * tarball goes into an empty app with `npm install` (offline from the npm cache; jose comes from
 * the registry's cached copy), and the app:
 * - pulls in edge-auth and jose only (hono, an optional peer, only when the app asks for it);
 * - type-checks a browser client file and a Worker file (with the runtime types `wrangler types`
 *   generates, the binding as it declares it: plain `Service`, and `Service<AuthRpc>`) with
 *   `tsc --strict`, under `moduleResolution` NodeNext and, separately, Bundler; the files hold
 *   `@ts-expect-error` lines, so types that fell back to `any` fail the check;
 * - imports both entries in Node by the package name and signs in against the service.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, serviceUrl } from "./helpers";

const root = join(import.meta.dirname, "../..");
const tsc = join(root, "node_modules/typescript/bin/tsc");
const dirs: string[] = [];
let tarball = "";

function sh(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, CI: "true" } });
  return { ok: result.status === 0, out: `${result.stdout}\n${result.stderr}` };
}

/** `npm install` offline from the cache, or preferring it when a packument was never cached. */
function install(cwd: string, specs: string[]) {
  const base = ["install", "--no-audit", "--no-fund", ...specs];
  const offline = sh("npm", [...base, "--offline"], cwd);
  const result = offline.ok ? offline : sh("npm", [...base, "--prefer-offline"], cwd);
  expect(result.ok, result.out).toBe(true);
}

/** Package directories under node_modules (scoped ones as @scope/name). */
function installed(cwd: string): string[] {
  const top = readdirSync(join(cwd, "node_modules")).filter((name) => !name.startsWith("."));
  return top.flatMap((name) => (name.startsWith("@") ? readdirSync(join(cwd, "node_modules", name)).map((sub) => `${name}/${sub}`) : [name])).sort();
}

function emptyApp(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `edge-auth-app-${label}-`));
  dirs.push(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `app-${label}`, private: true, type: "module" }));
  return dir;
}

const CLIENT_FILE = `import { createClient, EdgeAuthError, localStorageAdapter } from "edge-auth/client";
import type { Session, User } from "edge-auth/client";

const auth = createClient({ baseUrl: "https://auth.example.com", storage: localStorageAdapter() });
export async function signIn(email: string, password: string): Promise<User> {
  const pair = await auth.login({ email, password });
  const session: Session | null = auth.session;
  // @ts-expect-error: email is string | null
  const address: string = pair.user.email;
  // @ts-expect-error: login requires a password
  await auth.login({ email });
  // @ts-expect-error: no such method
  await auth.signInWithCarrierPigeon();
  void address;
  void session;
  return pair.user;
}
export const isRateLimited = (error: unknown) => error instanceof EdgeAuthError && error.code === "rate_limited";
`;

const SERVER_FILE = `import { Hono } from "hono";
import { createVerifier, edgeAuth } from "edge-auth/server";
import type { AuthRpc, EdgeAuthEnv, VerifiedToken } from "edge-auth/server";

// As \`wrangler types\` declares the binding: plain Service, or typed through the SDK's AuthRpc.
type Plain = EdgeAuthEnv & { Bindings: { AUTH: Service } };
type Typed = EdgeAuthEnv & { Bindings: { AUTH: Service<AuthRpc> } };

const plain = new Hono<Plain>();
plain.use("/api/*", (c, next) => edgeAuth<Plain>({ binding: c.env.AUTH })(c, next));
plain.get("/api/me", (c) => c.json({ id: c.get("auth").userId, role: c.get("auth").role }));

const typed = new Hono<Typed>();
typed.get("/check", async (c) => {
  const session = await c.env.AUTH.verifySession("token", { requestId: "r-1" });
  // @ts-expect-error: null when refused
  const id: string = session.userId;
  void id;
  return c.json({ email: session?.user.email ?? null });
});

const verifier = createVerifier({ jwksUrl: "https://auth.example.com/.well-known/jwks.json", issuer: "edge-auth", audience: "edge-auth-clients" });
export async function who(token: string): Promise<VerifiedToken["role"]> {
  const { role } = await verifier.verify(token);
  // @ts-expect-error: role is "guest" | "user"
  const wrong: "admin" = role;
  void wrong;
  return role;
}
export default { plain, typed };
`;

/** A Node service with no Hono: the JWKS verifier only. */
const VERIFIER_FILE = `import { createVerifier } from "edge-auth/server";
const verifier = createVerifier({ jwksUrl: "https://auth.example.com/.well-known/jwks.json", issuer: "edge-auth", audience: "edge-auth-clients" });
export const userOf = async (token: string): Promise<string> => (await verifier.verify(token)).userId;
// @ts-expect-error: verify takes a string
void verifier.verify(42);
`;

const RUN_FILE = `import { createClient, memoryStorage } from "edge-auth/client";
import { createVerifier } from "edge-auth/server";
const [base, ip] = process.argv.slice(2);
// Its own client address, as the other sdk tests do, so the per-IP limits never couple them.
const send = (input, init) => { const request = new Request(input, init); request.headers.set("cf-connecting-ip", ip); return fetch(request); };
const auth = createClient({ baseUrl: base, storage: memoryStorage(), fetch: send });
const pair = await auth.guest();
const verifier = createVerifier({ jwksUrl: base + "/.well-known/jwks.json", issuer: "edge-auth", audience: "edge-auth-clients" });
const { userId } = await verifier.verify(pair.accessToken);
await auth.logout();
console.log(JSON.stringify({ same: userId === pair.user.id, signedOut: auth.session === null }));
`;

function tsconfig(dir: string, name: string, resolution: "NodeNext" | "Bundler", files: string[], options: Record<string, unknown> = {}) {
  const compilerOptions = {
    strict: true,
    noEmit: true,
    target: "ES2022",
    module: resolution === "NodeNext" ? "NodeNext" : "ESNext",
    moduleResolution: resolution,
    types: [],
    skipLibCheck: false,
    ...options,
  };
  writeFileSync(join(dir, name), JSON.stringify({ compilerOptions, files }, null, 2));
  return name;
}

function typeCheck(dir: string, config: string) {
  const result = sh(process.execPath, [tsc, "-p", config], dir);
  expect(result.ok, `tsc -p ${config}:\n${result.out}`).toBe(true);
}

beforeAll(() => {
  const packed = sh("npm", ["run", "-s", "pack:sdk", "--", "--no-build"], root);
  expect(packed.ok, packed.out).toBe(true);
  tarball = packed.out.trim().split("\n").filter(Boolean).at(-1) ?? "";
  expect(tarball).toMatch(/^\/.*edge-auth-\d+\.\d+\.\d+\.tgz$/);
}, 120_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the packed edge-auth package in an empty app", () => {
  it("installs edge-auth and jose only; hono when the app adds it (an optional peer)", () => {
    const app = emptyApp("deps");
    install(app, [tarball]);
    expect(installed(app)).toEqual(["edge-auth", "jose"]);
    const pkg = JSON.parse(readFileSync(join(app, "node_modules/edge-auth/package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.scripts).toBeUndefined();
    expect(pkg.peerDependenciesMeta).toEqual({ hono: { optional: true } });
    // A Node service with no Hono type-checks its verifier (skipLibCheck, as most templates set).
    writeFileSync(join(app, "verifier.ts"), VERIFIER_FILE);
    typeCheck(app, tsconfig(app, "tsconfig.verifier.json", "NodeNext", ["verifier.ts"], { lib: ["ES2022", "DOM"], skipLibCheck: true }));
    install(app, ["hono@4.13.19"]);
    expect(installed(app)).toEqual(["edge-auth", "hono", "jose"]);
    const files = readdirSync(join(app, "node_modules/edge-auth"), { recursive: true }).map(String).filter((f) => !f.endsWith("/") && f.includes("."));
    expect(files.filter((f) => /\/src\/|zod|\.map$/.test(f))).toEqual([]);
  }, 180_000);

  for (const resolution of ["NodeNext", "Bundler"] as const) {
    it(`type-checks a client and a Worker file with tsc --strict, moduleResolution ${resolution}`, () => {
      const app = emptyApp(resolution.toLowerCase());
      install(app, [tarball, "hono@4.13.19"]);
      writeFileSync(join(app, "client.ts"), CLIENT_FILE);
      writeFileSync(join(app, "server.ts"), SERVER_FILE);
      // The runtime types `wrangler types` generated for examples/wardrobe, without the line naming
      // the wardrobe's own main module (not in this app).
      const generated = readFileSync(join(root, "examples/wardrobe/worker-configuration.d.ts"), "utf8");
      writeFileSync(join(app, "worker-configuration.d.ts"), generated.replace(/^.*mainModule: typeof import\(.*$/m, ""));
      typeCheck(app, tsconfig(app, "tsconfig.client.json", resolution, ["client.ts"], { lib: ["ES2022", "DOM"] }));
      // wrangler's generated runtime types are not NodeNext-clean themselves (`export =` in
      // `declare module "cloudflare:workers"`: TS1203), so under NodeNext the Worker file skips
      // checking declaration files; the SDK's own are checked under NodeNext just above and by
      // `npm run build:sdk` (skipLibCheck off).
      typeCheck(app, tsconfig(app, "tsconfig.server.json", resolution, ["server.ts", "worker-configuration.d.ts"], { lib: ["ES2023"], skipLibCheck: resolution === "NodeNext" }));
      // And the checks bite: a wrong use is an error.
      writeFileSync(join(app, "wrong.ts"), `import { createClient } from "edge-auth/client";\nconst n: number = createClient({ baseUrl: "x" }).session;\n`);
      const wrong = sh(process.execPath, [tsc, "-p", tsconfig(app, "tsconfig.wrong.json", resolution, ["wrong.ts"], { lib: ["ES2022", "DOM"] })], app);
      expect(wrong.ok).toBe(false);
      expect(wrong.out).toMatch(/TS2322/);
    }, 240_000);
  }

  it("runs in Node by the package name: a guest signs in and its token verifies", () => {
    const app = emptyApp("run");
    install(app, [tarball]);
    writeFileSync(join(app, "run.mjs"), RUN_FILE);
    const ran = sh(process.execPath, ["run.mjs", serviceUrl, freshIp()], app);
    expect(ran.ok, ran.out).toBe(true);
    expect(JSON.parse(ran.out.trim().split("\n")[0] ?? "{}")).toEqual({ same: true, signedOut: true });
  }, 120_000);
});
