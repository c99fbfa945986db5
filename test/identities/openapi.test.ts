/**
 * The §13 routes are in /openapi.json, each with an operationId, the callback under both methods
 * (GET query, POST form_post), and the optional Bearer token of the sign-in routes said as such.
 */
import { describe, expect, it } from "vitest";
import { call, json } from "../helpers";

describe("OpenAPI for sign-in with providers", () => {
  it("documents every route with an operationId", async () => {
    const document = await json(await call("/openapi.json"));
    const operation = (path: string, method: string) => document.paths[path]?.[method];
    const expected: [string, string, string][] = [
      ["/v1/auth/id-token", "post", "signInWithIdToken"],
      ["/v1/auth/oauth/{provider}/authorize", "get", "startOAuthSignIn"],
      ["/v1/auth/oauth/{provider}/callback", "get", "oauthCallback"],
      ["/v1/auth/oauth/{provider}/callback", "post", "oauthFormPostCallback"],
      ["/v1/auth/oauth/token", "post", "exchangeOAuthCode"],
      ["/v1/auth/identities", "post", "linkIdentity"],
      ["/v1/auth/identities", "get", "listIdentities"],
      ["/v1/auth/identities/{identityId}", "delete", "unlinkIdentity"],
    ];
    for (const [path, method, id] of expected) expect(operation(path, method)?.operationId, `${method} ${path}`).toBe(id);
    expect(Object.keys(operation("/v1/auth/oauth/{provider}/callback", "post").requestBody.content)).toEqual(["application/x-www-form-urlencoded"]);
    expect(operation("/v1/auth/id-token", "post").security).toEqual([{ bearerAuth: [] }, {}]);
    expect(operation("/v1/auth/identities", "get").security).toEqual([{ bearerAuth: [] }]);
  });
});
