/**
 * `edge-auth/server` (API.md §14): verifying the service's access tokens in another service.
 * `createVerifier` checks a token against the published JWKS (jose), pinning ES256, the issuer,
 * the audience, `typ: "JWT"` and the claims the service always sets. `edgeAuth` is a Hono
 * middleware that sets `c.get("auth")`; given the `AuthRpc` service binding instead, it asks the
 * service itself, which also refuses a token whose session was revoked (JWKS alone accepts it
 * until it expires, at most ACCESS_TOKEN_TTL_SECONDS).
 *
 * @example
 * import { createVerifier, edgeAuth } from "edge-auth/server";
 * const verifier = createVerifier({ jwksUrl: "https://auth.example.com/.well-known/jwks.json", issuer: "edge-auth", audience: "edge-auth-clients" });
 * const { userId, role } = await verifier.verify(token);
 * app.use("/api/*", edgeAuth({ binding: env.AUTH }));   // or edgeAuth({ jwksUrl, issuer, audience })
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import type { Context, MiddlewareHandler } from "hono";
// Type-only: the service's own shapes, and no code of src/ in this bundle.
import type { PublicUser } from "../../src/types";

export interface VerifierOptions {
  /** e.g. "https://auth.example.com/.well-known/jwks.json" */
  jwksUrl: string | URL;
  /** The service's JWT_ISSUER (default "edge-auth"). */
  issuer: string;
  /** The service's JWT_AUDIENCE (default "edge-auth-clients"). */
  audience: string;
}

/** The service's access-token claims (API.md §1). */
export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  role: "guest" | "user";
}

/** Who a verified token belongs to. */
export interface VerifiedToken {
  userId: string;
  sessionId: string;
  role: "guest" | "user";
  claims: AccessTokenClaims;
}

export interface Verifier {
  /** Resolves with the token's owner; throws (jose's JOSEError, or TypeError for wrong claims) otherwise. */
  verify(token: string): Promise<VerifiedToken>;
}

/** The claims every access token carries; a token without one is not ours. */
const REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "role"];

/** A JWKS verifier; keys are fetched once, cached, and refetched on an unknown `kid` (jose). */
export function createVerifier(options: VerifierOptions): Verifier {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl));
  return {
    async verify(token) {
      const { payload } = await jwtVerify(token, keys, {
        algorithms: ["ES256"],
        issuer: options.issuer,
        audience: options.audience,
        typ: "JWT",
        requiredClaims: REQUIRED_CLAIMS,
      });
      const claims = payload as AccessTokenClaims;
      if (typeof claims.sid !== "string" || (claims.role !== "guest" && claims.role !== "user")) {
        throw new TypeError("The token lacks the service's session claims");
      }
      return { userId: claims.sub, sessionId: claims.sid, role: claims.role, claims };
    },
  };
}

/** API.md §3 `User`, as `AuthRpc.verifySession` returns it (the service's type, src/types.ts). */
export type { PublicUser };

/** What `AuthRpc.verifySession` answers for a live session. */
export interface VerifiedSession {
  userId: string;
  sessionId: string;
  role: "guest" | "user";
  user: PublicUser;
}

/** The service binding to the Worker's `AuthRpc` entrypoint (src/rpc). */
export interface AuthRpcBinding {
  verifySession(accessToken: string): Promise<VerifiedSession | null>;
}

/** `c.get("auth")`: from the JWKS (claims) or from the binding (user). */
export type EdgeAuth = (VerifiedToken & { user?: undefined }) | (VerifiedSession & { claims?: undefined });

export type EdgeAuthOptions = VerifierOptions | { verifier: Verifier } | { binding: AuthRpcBinding };

export interface EdgeAuthEnv {
  Variables: { auth: EdgeAuth };
}

/**
 * Hono middleware: a valid Bearer token sets `c.get("auth")`; anything else is the service's own
 * 401 (API.md §5 body, `WWW-Authenticate: Bearer`). `E` is the app's Hono env (it must declare the
 * `auth` variable, e.g. `EdgeAuthEnv & { Bindings: Env }`).
 */
export function edgeAuth<E extends EdgeAuthEnv = EdgeAuthEnv>(options: EdgeAuthOptions): MiddlewareHandler<E> {
  const check: (token: string) => Promise<EdgeAuth | null> =
    "binding" in options
      ? (token) => options.binding.verifySession(token)
      : ((verifier) => (token: string) => verifier.verify(token).catch(() => null))("verifier" in options ? options.verifier : createVerifier(options));
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    const auth = match?.[1] ? await check(match[1]) : null;
    if (!auth) {
      return c.json(
        { statusCode: 401, error: "invalid_token", message: "A valid bearer access token is required" },
        401,
        { "WWW-Authenticate": 'Bearer error="invalid_token"' },
      );
    }
    (c as unknown as Context<EdgeAuthEnv>).set("auth", auth);
    await next();
  };
}

// API.md §16: verifying the service's webhooks.
export { verifyWebhook, WebhookVerificationError, WEBHOOK_TOLERANCE_SECONDS } from "./webhooks";
export type { WebhookEvent, WebhookEventType } from "./webhooks";
