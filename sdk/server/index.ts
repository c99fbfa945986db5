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
 * app.use("/api/*", (c, next) => edgeAuth({ binding: c.env.AUTH })(c, next));   // AUTH: Service<AuthRpc>
 * // or edgeAuth({ jwksUrl, issuer, audience }): no binding, no instant revocation
 * app.use("/api/billing/*", (c, next) => edgeAuth({ binding: c.env.AUTH, requireAal: "aal2" })(c, next)); // 403 below aal2
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import type { Context, MiddlewareHandler } from "hono";
// Type-only: the service's own shapes, and no code of src/ in this bundle (the published
// declarations write them out: scripts/build-sdk.mjs).
import type * as Service from "../../src/types";

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
  /** API.md §15: "aal2" when two factors or a passkey proved the session. */
  aal: Aal;
  /** The methods that proved the session, in order (password, code, passkey, id_token, oauth, guest, totp, recovery_code). */
  amr: string[];
  /** The session's latest sign-in or step-up, seconds since the epoch. */
  auth_time: number;
}

/** An authenticator assurance level (NIST SP 800-63B-4). */
export type Aal = "aal1" | "aal2";

/** Who a verified token belongs to. */
export interface VerifiedToken {
  userId: string;
  sessionId: string;
  role: "guest" | "user";
  /** API.md §15: how strongly the session was proven. */
  aal: Aal;
  amr: string[];
  /** Seconds since the epoch. */
  authTime: number;
  claims: AccessTokenClaims;
}

export interface Verifier {
  /** Resolves with the token's owner; throws (jose's JOSEError, or TypeError for wrong claims) otherwise. */
  verify(token: string): Promise<VerifiedToken>;
}

/** The claims every access token carries; a token without one is not ours. */
const REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "role"];

/**
 * `aal`, `amr` and `auth_time` (API.md §15), as the service reads them: a token signed before they
 * existed (none of the three) is aal1 with no methods, proven at `iat`; a partial or malformed set
 * is refused (undefined).
 */
function assurance(claims: Partial<AccessTokenClaims>): { aal: Aal; amr: string[]; authTime: number } | undefined {
  const { aal, amr, auth_time: authTime, iat } = claims;
  if (aal === undefined && amr === undefined && authTime === undefined) return typeof iat === "number" ? { aal: "aal1", amr: [], authTime: iat } : undefined;
  if ((aal !== "aal1" && aal !== "aal2") || !Array.isArray(amr) || !amr.every((m) => typeof m === "string") || typeof authTime !== "number") return undefined;
  return { aal, amr, authTime };
}

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
      const level = assurance(claims);
      if (typeof claims.sid !== "string" || (claims.role !== "guest" && claims.role !== "user") || !level) {
        throw new TypeError("The token lacks the service's session claims");
      }
      return { userId: claims.sub, sessionId: claims.sid, role: claims.role, ...level, claims };
    },
  };
}

/** API.md §3 `User`, as `AuthRpc.verifySession` returns it (the service's type, src/types.ts). */
export type PublicUser = Service.PublicUser;

/** What `AuthRpc.verifySession` answers for a live session. */
export interface VerifiedSession {
  userId: string;
  sessionId: string;
  role: "guest" | "user";
  aal: Aal;
  amr: string[];
  authTime: number;
  user: PublicUser;
}

/** `AuthRpc.verifySession`'s optional second argument (API.md §14; ignored by older services). */
export interface VerifySessionOptions {
  /**
   * Written on the service's log line when it refuses the token (`rpc.session_refused`, with a
   * `reason`): the app's request id, to find why a request got its 401. At most 128 characters.
   */
  requestId?: string;
}

declare global {
  // @cloudflare/workers-types' brand of WorkerEntrypoint types. Where the app has the runtime types
  // (`wrangler types`), this merges with theirs and `Service<AuthRpc>` type-checks; elsewhere it is
  // an empty interface.
  namespace Rpc {
    interface WorkerEntrypointBranded {}
  }
}

/**
 * The service's `AuthRpc` entrypoint (src/rpc), as a type for the app's Env: `AUTH: Service<AuthRpc>`.
 * `verifySession` answers the session's owner, or null for any refusal (the reason is on the
 * service's log line).
 */
export interface AuthRpc extends Rpc.WorkerEntrypointBranded {
  verifySession(accessToken: string, options?: VerifySessionOptions): Promise<VerifiedSession | null>;
}

/** Any object with AuthRpc's method: a hand-written Env's binding, a test double. */
export interface AuthRpcBinding {
  verifySession(accessToken: string, options?: VerifySessionOptions): Promise<VerifiedSession | null>;
}

/**
 * What `edgeAuth({ binding })` takes: the service binding as `wrangler types` declares it:
 * `Service<AuthRpc>`, `Service<typeof AuthRpc>` (types generated with the service's config too) or
 * plain `Service` (`Fetcher`), or an `AuthRpcBinding`. A binding to a Worker without `AuthRpc`
 * fails at the first request (503, and an `edge_auth.binding_failed` line on the app's console).
 */
export type AuthBinding = AuthRpcBinding | { fetch(input: never, init?: never): Promise<unknown> };

/** `c.get("auth")`: from the JWKS (claims) or from the binding (user). */
export type EdgeAuth = (VerifiedToken & { user?: undefined }) | (VerifiedSession & { claims?: undefined });

export type EdgeAuthOptions = (VerifierOptions | { verifier: Verifier } | { binding: AuthBinding }) & {
  /**
   * API.md §15: answer 403 `forbidden` unless the session is at least this level (the app then
   * asks the user to step up: `auth.mfa.stepUp({ code })`, or to sign in with a passkey).
   */
  requireAal?: Aal;
};

export interface EdgeAuthEnv {
  Variables: { auth: EdgeAuth };
}

/** The app's request id: hono's `requestId` middleware, an `X-Request-Id` header, or a fresh UUID. */
const requestIdOf = (c: Context): string => {
  const set = (c.var as { requestId?: unknown }).requestId;
  if (typeof set === "string" && set) return set;
  return c.req.header("x-request-id") ?? crypto.randomUUID();
};

const failure = (c: Context, status: 401 | 503, error: string, message: string, requestId: string) =>
  c.json({ statusCode: status, error, message }, status, {
    "X-Request-Id": requestId,
    ...(status === 401 ? { "WWW-Authenticate": `Bearer error="${error}"` } : { "Retry-After": "1" }),
  });

/**
 * Hono middleware: a valid Bearer token sets `c.get("auth")`; anything else is the service's own
 * 401 (API.md §5 body, `WWW-Authenticate: Bearer`). Every refusal carries `X-Request-Id`; with a
 * binding, the service logs the same id with the reason. A binding that throws (not the service,
 * or the service down) is a 503 `unavailable`. `E` is the app's Hono env (it must declare the
 * `auth` variable, e.g. `EdgeAuthEnv & { Bindings: Env }`).
 */
export function edgeAuth<E extends EdgeAuthEnv = EdgeAuthEnv>(options: EdgeAuthOptions): MiddlewareHandler<E> {
  const check: (token: string, requestId: string) => Promise<EdgeAuth | null> =
    "binding" in options
      ? ((rpc) => async (token: string, requestId: string) => {
          try {
            return await rpc.verifySession(token, { requestId });
          } catch (error) {
            console.error(JSON.stringify({ level: "error", event: "edge_auth.binding_failed", requestId, message: String((error as Error)?.message ?? error).slice(0, 200) }));
            throw new BindingFailed();
          }
        })(options.binding as AuthRpcBinding)
      : ((verifier) => (token: string) => verifier.verify(token).catch(() => null))("verifier" in options ? options.verifier : createVerifier(options));
  return async (c, next) => {
    const requestId = requestIdOf(c);
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    let auth: EdgeAuth | null = null;
    try {
      auth = match?.[1] ? await check(match[1], requestId) : null;
    } catch {
      return failure(c, 503, "unavailable", "The authentication service could not be reached", requestId);
    }
    if (!auth) return failure(c, 401, "invalid_token", "A valid bearer access token is required", requestId);
    if (options.requireAal === "aal2" && auth.aal !== "aal2") {
      return c.json({ statusCode: 403, error: "forbidden", message: "This needs a session proven with a second factor (aal2): step up first" }, 403, { "X-Request-Id": requestId });
    }
    (c as unknown as Context<EdgeAuthEnv>).set("auth", auth);
    await next();
  };
}

class BindingFailed extends Error {}

// API.md §16: verifying the service's webhooks.
export { verifyWebhook, WebhookVerificationError, WEBHOOK_TOLERANCE_SECONDS } from "./webhooks";
export type { WebhookEvent, WebhookEventType } from "./webhooks";
