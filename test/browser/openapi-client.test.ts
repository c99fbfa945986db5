/**
 * The OpenAPI document is faithful enough to generate a typed client from: openapi-typescript turns
 * the served /openapi.json into types, and TypeScript checks calls written against them the way
 * each door's document spells them (document 000's snake_case bodies, LoginBody's email-or-username
 * union, the §5 error enum, the rate-limit headers). Runs in Node (the browser project) because the
 * generator and the compiler are Node tools.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { serviceUrl } from "./helpers";

const USAGE = `
import type { components, operations, paths } from "./api";
type Refresh000 = NonNullable<paths["/auth/refresh"]["post"]["requestBody"]>["content"]["application/json"];
type Login = NonNullable<paths["/v1/auth/login"]["post"]["requestBody"]>["content"]["application/json"];
type Upgrade000 = NonNullable<paths["/auth/upgrade"]["post"]["requestBody"]>["content"]["application/json"];

const refresh: Refresh000 = { access_token: "a", refresh_token: "r" };
// @ts-expect-error document 000 spells the fields in snake_case
const camel: Refresh000 = { accessToken: "a", refreshToken: "r" };
const byEmail: Login = { email: "a@example.com", password: "p" };
const byName: Login = { username: "ada", password: "p" };
// @ts-expect-error an email or a username is required
const neither: Login = { password: "p" };
const upgrade: Upgrade000 = { email: "a@example.com", username: "ada", password: "p", profile_picture: "https://x.example/p.png" };
const code: components["schemas"]["Error"]["error"] = "reauthentication_required";
// @ts-expect-error not an error code of API.md §5
const wrong: components["schemas"]["Error"]["error"] = "teapot";
type LoginHeaders = operations["v1Login"]["responses"][429]["headers"];
const retry: LoginHeaders["Retry-After"] = 30;
type Health = operations["health"]["responses"][200]["content"]["application/json"];
const health: Health = { status: "ok" };
export { refresh, camel, byEmail, byName, neither, upgrade, code, wrong, retry, health };
`;

describe("a typed client generated from /openapi.json", () => {
  it("type-checks calls spelled as each door's document spells them", async () => {
    const document = (await (await fetch(`${serviceUrl}/openapi.json`)).json()) as Parameters<typeof openapiTS>[0];
    const source = astToString(await openapiTS(document));
    const dir = mkdtempSync(join(tmpdir(), "edge-auth-openapi-"));
    try {
      writeFileSync(join(dir, "api.ts"), source);
      writeFileSync(join(dir, "usage.ts"), USAGE);
      const program = ts.createProgram([join(dir, "usage.ts")], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        skipLibCheck: true,
        types: [],
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map((d) => `${d.file?.fileName.split("/").pop()}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
