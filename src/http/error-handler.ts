/**
 * The app's error and not-found handlers: anything thrown (an AuthError, a Hono HTTPException, a
 * gone user, or a bug) becomes API.md §5's JSON error shape in the door's spelling, with
 * WWW-Authenticate on a 401 (RFC 6750 §3) and Retry-After when one is known; a bug is logged by
 * name and message only, and answered as `internal`. Re-exported by src/http/middleware.ts, the HTTP
 * edges' entry file.
 *
 * @example
 * import { notFound, onError } from "./error-handler";
 * app.onError(onError);
 * app.notFound(notFound);
 */
import { HTTPException } from "hono/http-exception";
import type { ErrorHandler, NotFoundHandler } from "hono";
import { AuthError, goneUserError, owedWritesError, transientError } from "./errors";
import type { ErrorCode } from "./errors";
import type { AppEnv } from "./index";
import { log } from "./log";
import { respell, respellIssues } from "./spelling";

const HTTP_CODES: Record<number, ErrorCode> = {
  400: "invalid_request",
  401: "invalid_token",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof HTTPException) {
    const code = HTTP_CODES[error.status] ?? "invalid_request";
    const message = error.status === 400 ? "The body is not valid JSON" : error.message || code;
    return new AuthError(code, message, error.status === 400 ? [{ field: "body", message }] : undefined);
  }
  return goneUserError(error) ?? owedWritesError(error) ?? transientError(error) ?? new AuthError("internal", "Something went wrong on our side");
}

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  let authError = toAuthError(error);
  const spelling = c.get("spelling");
  if (spelling && authError.details) {
    authError = new AuthError(authError.code, authError.message, respellIssues(authError.details, spelling), authError.retryAfter);
  }
  if (authError.code === "unavailable" && !(error instanceof AuthError)) {
    // A dependency's failure of the moment (src/http/errors.ts `transientError`): named, for operators.
    log("warn", "unavailable", { requestId: c.get("requestId"), route: c.req.routePath, name: error instanceof Error ? error.name : typeof error, message: error instanceof Error ? error.message.split(/params:/i)[0]!.slice(0, 200) : undefined });
  }
  if (authError.code === "internal") {
    // Name and message only: a stack or a cause may quote request data.
    log("error", "unhandled", {
      requestId: c.get("requestId"),
      route: c.req.routePath,
      name: error instanceof Error ? error.name : typeof error,
      // Drizzle quotes bound parameters after "params:"; they may be hashes or emails.
      message: error instanceof Error ? error.message.split(/params:/i)[0]!.slice(0, 200) : undefined,
    });
  }
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a bearer token's problem names `invalid_token`; other 401s (a wrong password, an
  // unverified address) are no token problem, so the challenge carries no error code (`invalid_request`
  // belongs with a 400).
  if (authError.status === 401) headers["WWW-Authenticate"] = authError.code === "invalid_token" ? 'Bearer error="invalid_token"' : "Bearer";
  if (authError.retryAfter !== undefined) headers["Retry-After"] = String(authError.retryAfter);
  // Fields beyond §5's (mfa_required's mfaToken) in the door's spelling, as its document names them.
  return c.json(respell(authError.toJSON(), spelling) as ReturnType<AuthError["toJSON"]>, authError.status as 400, headers);
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(new AuthError("not_found", "No such route").toJSON(), 404);
