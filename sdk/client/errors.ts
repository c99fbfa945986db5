/**
 * The one error the client throws (API.md §14): the service's §5 error body, plus the status and
 * the `Retry-After` seconds. A request that never got an answer (offline, DNS, reset) is status 0
 * with code `unavailable`, so callers branch on one field.
 *
 * @example
 * try { await auth.login({ email, password }); }
 * catch (e) { if (e instanceof EdgeAuthError && e.code === "invalid_credentials") showWrongPassword(); }
 */
import type * as Service from "../../src/http/errors";

/** API.md §5 `error` codes (the service's own list, written out in the published declarations). */
export type ErrorCode = Service.ErrorCode;
/** One invalid field of an `invalid_request`: `{ field, message }`. */
export type FieldIssue = Service.FieldIssue;

/** A failed call: `status` is the HTTP status (0: no answer), `code` one of API.md §5. */
export class EdgeAuthError extends Error {
  override readonly name = "EdgeAuthError";
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number;
  /** API.md §5 code, e.g. `invalid_credentials`; `unavailable` for a network failure. */
  readonly code: ErrorCode;
  /** For `invalid_request`: which fields, and why. */
  readonly details?: FieldIssue[];
  /** Seconds to wait before trying again (the `Retry-After` header), when the service sent one. */
  readonly retryAfter?: number;
  /** For `mfa_required` (API.md §15): the token to pass to `mfa.verify` with a code, valid 5 minutes. */
  readonly mfaToken?: string;
  /** For `mfa_required`: the kinds of second factor the account can answer with. */
  readonly factors?: Array<"totp" | "recovery_code">;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    extra: { details?: FieldIssue[]; retryAfter?: number; cause?: unknown; mfaToken?: string; factors?: Array<"totp" | "recovery_code"> } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.status = status;
    this.code = code;
    if (extra.details) this.details = extra.details;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
    if (extra.mfaToken !== undefined) this.mfaToken = extra.mfaToken;
    if (extra.factors !== undefined) this.factors = extra.factors;
  }
}

const FALLBACK: Record<number, ErrorCode> = {
  400: "invalid_request", 401: "invalid_token", 403: "forbidden", 404: "not_found", 409: "conflict",
  413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited", 503: "unavailable",
};

/** `Retry-After` as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Builds the error from a non-2xx answer; a body that is not §5 JSON still yields a code. */
export async function errorFrom(response: Response): Promise<EdgeAuthError> {
  let body: { error?: ErrorCode; message?: string; details?: FieldIssue[]; mfaToken?: string; factors?: Array<"totp" | "recovery_code"> } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // not JSON (a proxy's page): the status decides
  }
  const code = body.error ?? FALLBACK[response.status] ?? (response.status >= 500 ? "internal" : "invalid_request");
  const retryAfter = retryAfterSeconds(response);
  return new EdgeAuthError(response.status, code, body.message ?? `HTTP ${response.status}`, {
    ...(body.details ? { details: body.details } : {}),
    ...(retryAfter === undefined ? {} : { retryAfter }),
    ...(typeof body.mfaToken === "string" ? { mfaToken: body.mfaToken, factors: body.factors ?? ["totp"] } : {}),
  });
}

/** A request that got no answer at all. */
export const networkError = (cause: unknown) =>
  new EdgeAuthError(0, "unavailable", "The service could not be reached", { cause });

/** Whether a 401 says the access token was refused (`WWW-Authenticate` or the §5 body's `error`). */
export async function saysInvalidToken(response: Response): Promise<boolean> {
  if (/invalid_token/.test(response.headers.get("www-authenticate") ?? "")) return true;
  try {
    return ((await response.clone().json()) as { error?: string }).error === "invalid_token";
  } catch {
    return false;
  }
}
