/**
 * An app that answers 401 `invalid_token` to everything (its verifier set up for another issuer,
 * say) behind `auth.fetch()` (issue 26): a token the client obtained moments ago is not refreshed
 * on the app's 401, which is returned as is; an older token is refreshed once, and the fresh one
 * then is not. Refreshes are counted at the client's network. The app is a real HTTP server on
 * loopback; the service is the real one.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryStorage } from "../../sdk/client";
import { client } from "./helpers";

let appUrl = "";
let answered = 0;
const app = createServer((_request, response) => {
  answered += 1;
  response.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer error="invalid_token"' });
  response.end(JSON.stringify({ statusCode: 401, error: "invalid_token", message: "A valid bearer access token is required" }));
});

beforeAll(async () => {
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/items`;
});
afterAll(() => new Promise<void>((resolve) => app.close(() => resolve())));

describe("auth.fetch() against an app that always answers 401", () => {
  it("a token obtained moments ago: 8 requests, 8 answers of 401, no refresh", async () => {
    const { auth, net } = client();
    await auth.guest();
    const before = answered;
    for (let i = 0; i < 8; i += 1) {
      const response = await auth.fetch(appUrl);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_token");
    }
    expect(answered - before).toBe(8);
    expect(net.count("/v1/auth/refresh")).toBe(0);
    expect(auth.session).not.toBeNull();
  });

  it("a token from before (a restored session): one refresh and one retry, then none", async () => {
    const storage = memoryStorage();
    const first = client({ storage });
    const pair = await first.auth.guest();
    // A new client on the same store: the app restarted, the token is not one it just obtained.
    const { auth, net } = client({ storage });
    const before = answered;
    for (let i = 0; i < 8; i += 1) expect((await auth.fetch(appUrl)).status).toBe(401);
    expect(net.count("/v1/auth/refresh")).toBe(1);
    expect(answered - before).toBe(9);
    expect(auth.session?.sessionId).toBe(pair.sessionId);
    expect(auth.session?.accessToken).not.toBe(pair.accessToken);
  });

  it("concurrent requests of an older token share one refresh", async () => {
    const storage = memoryStorage();
    await client({ storage }).auth.guest();
    const { auth, net } = client({ storage });
    const answers = await Promise.all(Array.from({ length: 6 }, () => auth.fetch(appUrl)));
    expect(answers.map((response) => response.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(net.count("/v1/auth/refresh")).toBe(1);
  });
});
