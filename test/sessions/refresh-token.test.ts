/**
 * The refresh-token format (src/sessions/refresh-token.ts), directly: 64 bytes in base64url carrying
 * the user id, the session id and 32 random bytes; anything else parses to null.
 */
import { describe, expect, it } from "vitest";
import { fromBase64url } from "../../src/crypto";
import { makeRefreshToken, parseRefreshToken } from "../../src/sessions/refresh-token";

const userId = "0f8fad5b-d9cb-469f-a165-70867728950e";
const sessionId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

describe("refresh-token format", () => {
  it("round-trips the user and session ids", () => {
    const token = makeRefreshToken(userId, sessionId);
    expect(token).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(parseRefreshToken(token)).toEqual({ userId, sessionId });
  });

  it("puts 32 fresh random bytes after the ids", () => {
    const a = fromBase64url(makeRefreshToken(userId, sessionId));
    const b = fromBase64url(makeRefreshToken(userId, sessionId));
    expect(a.length).toBe(64);
    expect(a.subarray(0, 32)).toEqual(b.subarray(0, 32));
    expect(a.subarray(32)).not.toEqual(b.subarray(32));
  });

  it("rejects anything that is not exactly the format", () => {
    const token = makeRefreshToken(userId, sessionId);
    for (const bad of [undefined, null, 42, {}, "", token.slice(1), `${token}A`, `${token.slice(0, 85)}=`, `${token.slice(0, 85)}+`, `${token.slice(0, 85)}/`]) {
      expect(parseRefreshToken(bad)).toBeNull();
    }
  });
});
