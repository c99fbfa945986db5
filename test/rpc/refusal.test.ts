/**
 * `AuthRpc.verifySession` (API.md §14, issue 26): a live session's owner; for a refused token
 * `null` over RPC as before, and one log line `rpc.session_refused` carrying the caller's request
 * id and why (src/rpc/refusal.ts): malformed, another deployment's key, issuer or audience,
 * expired, a bad signature, or a session that ended. The entrypoint runs on the test's real
 * bindings (D1, the user's Durable Object); tokens are the service's own or forged one claim wrong.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import * as jose from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthRpc } from "../../src/rpc";
import { accessClaims, call, claims, expiredAccessToken, guest, serviceSigningKey, signToken } from "../helpers";

const rpc = () => new AuthRpc(createExecutionContext(), env);

/** The `rpc.session_refused` lines logged while `run` ran. */
async function refusals(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const spy = vi.spyOn(console, "log");
  try {
    await run();
    return spy.mock.calls
      .map(([line]) => (typeof line === "string" && line.startsWith("{") ? (JSON.parse(line) as Record<string, unknown>) : null))
      .filter((line): line is Record<string, unknown> => line?.event === "rpc.session_refused");
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("AuthRpc.verifySession", () => {
  it("answers a live session's owner, and logs nothing", async () => {
    const pair = await guest();
    const lines = await refusals(async () => {
      const session = await rpc().verifySession(pair.accessToken, { requestId: "req-live" });
      expect(session).toMatchObject({ userId: pair.user.id, sessionId: pair.sessionId, role: "guest", user: { id: pair.user.id, isGuest: true } });
    });
    expect(lines).toEqual([]);
  });

  it("refuses with null and logs the caller's request id and the reason", async () => {
    const pair = await guest();
    const subject = { userId: pair.user.id, sessionId: pair.sessionId };
    const { key, kid } = await serviceSigningKey();
    const header = { alg: "ES256", kid, typ: "JWT" };
    const other = await jose.generateKeyPair("ES256", { extractable: true });
    const cases: [string, string][] = [
      ["not-a-jwt", "malformed"],
      [`${"x".repeat(10)}.${"y".repeat(10)}.${"z".repeat(10)}`, "malformed"],
      [await signToken({ ...header, kid: "another-deployment" }, accessClaims(subject), other.privateKey as CryptoKey), "unknown_key"],
      [await signToken(header, { ...accessClaims(subject), iss: "someone-else" }, key), "wrong_issuer"],
      [await signToken(header, { ...accessClaims(subject), aud: "another-app" }, key), "wrong_audience"],
      [await expiredAccessToken(pair.accessToken), "expired"],
      [await signToken(header, { ...accessClaims(subject), sid: "not-a-uuid" }, key), "invalid"],
      [`${pair.accessToken.slice(0, pair.accessToken.lastIndexOf("."))}.${"A".repeat(86)}`, "invalid"],
    ];
    for (const [token, reason] of cases) {
      const requestId = `req-${reason}-${crypto.randomUUID().slice(0, 6)}`;
      const lines = await refusals(async () => expect(await rpc().verifySession(token, { requestId })).toBeNull());
      expect(lines, `${reason}: ${token.slice(0, 40)}`).toEqual([expect.objectContaining({ level: "info", requestId, reason })]);
      expect(JSON.stringify(lines)).not.toContain(token);
    }
  });

  it("a token that verifies but whose session ended: session_ended; no request id: a fresh one", async () => {
    const pair = await guest();
    expect((await call("/v1/auth/revoke", { body: { refreshToken: pair.refreshToken } })).status).toBe(204);
    const lines = await refusals(async () => expect(await rpc().verifySession(pair.accessToken)).toBeNull());
    expect(lines).toEqual([expect.objectContaining({ reason: "session_ended", requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) })]);
    expect(claims(pair.accessToken).sid).toBe(pair.sessionId);
  });

  it("a value that is not a string is malformed; a long request id is cut to 128 characters", async () => {
    const lines = await refusals(async () => {
      expect(await rpc().verifySession(42 as unknown as string, { requestId: "r".repeat(500) })).toBeNull();
    });
    expect(lines).toEqual([expect.objectContaining({ reason: "malformed", requestId: "r".repeat(128) })]);
  });
});
