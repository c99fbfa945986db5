/**
 * `AuthRpc`, the Worker's RPC entrypoint for other Workers (API.md §14): `verifySession` runs the
 * same check as `GET /v1/auth/me` (signature and claims, then the session still live, asked of the
 * user's Durable Object: no D1 trip when warm, src/sessions/check.ts), so a revoked session is refused at once, which JWKS-only verification cannot do. Another
 * Worker binds it with `services = [{ binding = "AUTH", service = "edge-auth", entrypoint = "AuthRpc" }]`.
 *
 * @example
 * const session = await env.AUTH.verifySession(accessToken);
 * if (!session) return new Response("Unauthorized", { status: 401 });
 * session.user.email;
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type { PublicUser } from "../accounts/users";
import { loadConfig } from "../config";
import type { Deps } from "../http/deps";
import { log } from "../http/log";
import { checkSession } from "../sessions/check";
import type { Aal, Role } from "../tokens";
import { refusalReason } from "./refusal";

/** A live session's owner: public user fields only (no hash, no internal columns). */
export interface VerifiedSession {
  userId: string;
  sessionId: string;
  role: Role;
  /** How strongly the session was proven (API.md §15): "aal1" or "aal2". */
  aal: Aal;
  /** The methods that proved it, in order. */
  amr: string[];
  /** The session's latest sign-in or step-up, seconds since the epoch. */
  authTime: number;
  user: PublicUser;
}

/** `verifySession`'s optional second argument. */
export interface VerifySessionOptions {
  /** The caller's request id, written on the service's log line of a refusal (at most 128 characters kept). */
  requestId?: string;
}

export class AuthRpc extends WorkerEntrypoint<Env> {
  /**
   * The owner of `accessToken` when it verifies and its session is live; null for any failure
   * (bad signature, expired, revoked, unknown user), logged as `rpc.session_refused` with
   * `{ requestId, reason }`. Throws only when the service is misconfigured.
   */
  async verifySession(accessToken: string, options?: VerifySessionOptions): Promise<VerifiedSession | null> {
    const given = options?.requestId;
    const requestId = typeof given === "string" && given.length > 0 ? given.slice(0, 128) : crypto.randomUUID();
    const config = loadConfig(this.env);
    const deps: Deps = {
      env: this.env,
      config,
      client: { ipAddress: null, userAgent: null },
      requestId,
      origin: "",
      waitUntil: (promise) => this.ctx.waitUntil(promise),
    };
    try {
      if (typeof accessToken !== "string") throw new TypeError("not a string");
      const auth = await checkSession(deps, accessToken);
      return { userId: auth.userId, sessionId: auth.sessionId, role: auth.role, aal: auth.aal, amr: auth.amr, authTime: auth.authTime, user: auth.user };
    } catch {
      log("info", "rpc.session_refused", { requestId, reason: await refusalReason(config, accessToken) });
      return null;
    }
  }
}
