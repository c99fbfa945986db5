/**
 * The built package (npm run build:sdk, which the sdk project's global setup runs): `edge-auth/client`
 * and `edge-auth/server` resolve through package.json `exports` to ESM with declarations, the
 * client carries no zod and stays within 10 KiB gzip, and the built client works against the service.
 */
import { describe, expect, it } from "vitest";
import packageJson from "../../package.json?raw";
import builtClient from "../../dist/client/index.js?raw";
import builtServer from "../../dist/server/index.js?raw";
import clientTypes from "../../dist/client/index.d.ts?raw";
import serverTypes from "../../dist/server/index.d.ts?raw";
import clientDeclarations from "../../dist/types/sdk/client/index.d.ts?raw";
import { network, serviceUrl } from "./helpers";

// Through the package name, as an app would import them (self-reference via `exports`).
const clientEntry = "edge-auth/client";
const serverEntry = "edge-auth/server";

describe("npm run build:sdk", () => {
  it("writes ESM with .d.ts for both entries, exported by package.json", async () => {
    const pkg = JSON.parse(packageJson) as { private: boolean; exports: Record<string, { types: string; import: string }> };
    expect(pkg.private).toBe(true);
    for (const name of ["client", "server"]) {
      expect(pkg.exports[`./${name}`]).toEqual({ types: `./dist/${name}/index.d.ts`, import: `./dist/${name}/index.js` });
    }
    expect(builtClient).toMatch(/export \{/);
    expect(builtServer).toMatch(/from "jose"/);
    expect(builtClient).not.toMatch(/zod|ZodObject|node:/);
    expect(clientTypes).toMatch(/sdk\/client\/index/);
    expect(serverTypes).toMatch(/sdk\/server\/index/);
    expect(clientDeclarations).toMatch(/createClient/);
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
