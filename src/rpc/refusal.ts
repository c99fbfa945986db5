/**
 * Why `AuthRpc.verifySession` refused a token, for the service's log line (issue 26): a token from
 * another deployment (its key, issuer or audience), an expired one, one whose session ended, or
 * one that is not a JWT at all. The answer over RPC stays `null` (API.md §14); the reason is for
 * the operator, and names nothing secret (the header and claims a token's holder can read anyway).
 *
 * @example
 * const reason = await refusalReason(config, token);  // "expired"
 * log("info", "rpc.session_refused", { requestId, reason });
 */
import { decodeJwt, decodeProtectedHeader } from "jose";
import type { Config } from "../config";
import { jwks, verifyAccessToken } from "../tokens";

/**
 * `malformed`: not a compact JWS. `unknown_key`: signed by a key this service does not publish
 * (another deployment, or a rotated-out key). `wrong_issuer` / `wrong_audience`: another
 * deployment's JWT_ISSUER / JWT_AUDIENCE. `expired`. `session_ended`: the token verifies but its
 * session was revoked, expired or its user deleted. `invalid`: anything else (a bad signature, a
 * missing claim).
 */
export type RefusalReason = "malformed" | "unknown_key" | "wrong_issuer" | "wrong_audience" | "expired" | "session_ended" | "invalid";

/**
 * Classifies a token `authenticateToken` refused: one that still verifies (signature and claims)
 * was refused for its session; otherwise its header and claims, read without trusting them, say
 * which check it fails.
 */
export async function refusalReason(config: Config, token: unknown): Promise<RefusalReason> {
  if (typeof token !== "string" || token.length > 4096 || token.split(".").length !== 3) return "malformed";
  if (await verifyAccessToken(config, token).then(() => true, () => false)) return "session_ended";
  let kid: unknown;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    kid = decodeProtectedHeader(token).kid;
    claims = decodeJwt(token);
  } catch {
    return "malformed";
  }
  const published: unknown[] = await jwks(config).then((set) => set.keys.map((key) => key.kid), () => []);
  if (typeof kid !== "string" || !published.includes(kid)) return "unknown_key";
  if (claims.iss !== config.issuer) return "wrong_issuer";
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(config.audience)) return "wrong_audience";
  if (typeof claims.exp === "number" && claims.exp + 5 < Date.now() / 1000) return "expired";
  return "invalid";
}
