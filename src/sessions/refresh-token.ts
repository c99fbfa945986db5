/**
 * The refresh-token format. A token is 64 bytes, base64url: the user id (16 bytes), the session id
 * (16 bytes) and 32 random bytes. The ids route the token to its user's Durable Object with no
 * database read; they grant nothing, because the object accepts a token only when the SHA-256 of the
 * whole token matches one it issued for that session.
 *
 * @example
 * import { makeRefreshToken, parseRefreshToken } from "./refresh-token";
 * const token = makeRefreshToken(userId, sessionId);
 * parseRefreshToken(token); // { userId, sessionId }
 */
import { base64url, fromBase64url } from "../crypto";

const TOKEN_LENGTH = 86;

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function bytesUuid(bytes: Uint8Array): string {
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function makeRefreshToken(userId: string, sessionId: string): string {
  const bytes = new Uint8Array(64);
  bytes.set(uuidBytes(userId), 0);
  bytes.set(uuidBytes(sessionId), 16);
  bytes.set(crypto.getRandomValues(new Uint8Array(32)), 32);
  return base64url(bytes);
}

export function parseRefreshToken(token: unknown): { userId: string; sessionId: string } | null {
  if (typeof token !== "string" || token.length !== TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const bytes = fromBase64url(token);
  if (bytes.length !== 64) return null;
  return { userId: bytesUuid(bytes.subarray(0, 16)), sessionId: bytesUuid(bytes.subarray(16, 32)) };
}
