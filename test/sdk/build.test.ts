/**
 * The built package (npm run build:sdk, which the sdk project's global setup runs): sdk/ is the
 * `edge-auth` package, whose `exports` map `edge-auth/client` and `edge-auth/server` to ESM with
 * declarations that stand alone (no import of the service's src/ or zod, `.js` relative imports);
 * the client carries no zod and stays within 10 KiB gzip, and the built client works against the
 * service. test/sdk/package.test.ts installs the packed tarball into an app.
 */
import { describe, expect, it } from "vitest";
import rootPackageJson from "../../package.json?raw";
import packageJson from "../../sdk/package.json?raw";
import builtClient from "../../sdk/dist/client/index.js?raw";
import builtServer from "../../sdk/dist/server/index.js?raw";
import clientTypes from "../../sdk/dist/client/index.d.ts?raw";
import routeTypes from "../../sdk/dist/client/routes.d.ts?raw";
import serverTypes from "../../sdk/dist/server/index.d.ts?raw";
import { network, serviceUrl } from "./helpers";

// The built files themselves (an app imports them by the package name: test/sdk/package.test.ts).
const clientEntry = "../../sdk/dist/client/index.js";
const serverEntry = "../../sdk/dist/server/index.js";

describe("npm run build:sdk", () => {
  it("writes ESM with self-contained .d.ts for both entries, exported by sdk/package.json", async () => {
    const pkg = JSON.parse(packageJson) as {
      name: string;
      exports: Record<string, { types: string; default: string }>;
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional: boolean }>;
      scripts?: unknown;
    };
    expect(pkg.name).toBe("edge-auth");
    for (const name of ["client", "server"]) {
      expect(pkg.exports[`./${name}`]).toEqual({ types: `./dist/${name}/index.d.ts`, default: `./dist/${name}/index.js` });
    }
    expect(Object.keys(pkg.dependencies)).toEqual(["jose"]);
    expect(Object.keys(pkg.peerDependencies)).toEqual(["hono"]);
    expect(pkg.peerDependenciesMeta.hono?.optional).toBe(true);
    expect(pkg.scripts).toBeUndefined();
    // The service's package no longer exports (or packs) the SDK.
    expect(JSON.parse(rootPackageJson)).not.toHaveProperty("exports");
    expect(builtClient).toMatch(/export \{/);
    expect(builtServer).toMatch(/from "jose"/);
    expect(builtServer).not.toMatch(/from "hono/);
    expect(builtClient).not.toMatch(/zod|ZodObject|node:/);
    for (const types of [clientTypes, routeTypes, serverTypes]) {
      expect(types).not.toMatch(/(from |import\()"[^"]*(\/src\/|zod)/);
      for (const [, specifier] of types.matchAll(/from "(\.[^"]*)"/g)) expect(specifier).toMatch(/\.js$/);
    }
    expect(clientTypes).toMatch(/createClient/);
    expect(clientTypes).toMatch(/from "\.\/routes\.js"/);
    expect(routeTypes).toMatch(/export type User = \{\s+id: string;\s+email: string \| null;/);
    expect(serverTypes).toMatch(/export interface AuthRpc extends Rpc\.WorkerEntrypointBranded/);
    const gzipped = await new Response(new Blob([builtClient]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    expect(gzipped.byteLength).toBeLessThan(10 * 1024);
  });

  it("the built client signs in, refreshes and signs out against the service", async () => {
    const { createClient, memoryStorage } = (await import(/* @vite-ignore */ clientEntry)) as typeof import("../../sdk/client");
    const { createVerifier } = (await import(/* @vite-ignore */ serverEntry)) as typeof import("../../sdk/server");
    const auth = createClient({ baseUrl: serviceUrl, storage: memoryStorage(), fetch: network().fetch });
    const pair = await auth.guest();
    const rotated = await auth.refresh();
    expect(rotated.sessionId).toBe(pair.sessionId);
    const verifier = createVerifier({ jwksUrl: `${serviceUrl}/.well-known/jwks.json`, issuer: "edge-auth", audience: "edge-auth-clients" });
    expect((await verifier.verify(rotated.accessToken)).userId).toBe(pair.user.id);
    expect(await auth.logout()).toBe(true);
  });
});
