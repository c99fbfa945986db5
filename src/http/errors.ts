/**
 * The one error type services throw, and the JSON shape of every error answer (API.md §5):
 * `{ statusCode, error, message, details? }`. Services know nothing of HTTP beyond the status each
 * code maps to; src/http/middleware.ts turns any thrown value into this shape.
 *
 * @example
 * import { AuthError } from "./errors";
 * throw new AuthError("invalid_credentials", "Email or password is incorrect");
 * throw new AuthError("account_disabled"); // the catalogue's default message
 */
import { OWED_WRITES_UNAVAILABLE } from "../sessions/owed-writes";

/**
 * Every error code the service answers with (API.md §5): its HTTP status and the message used when
 * a thrown error gives none. The one list: `ERROR_STATUS`, `ERROR_CODES` and the OpenAPI `Error`
 * schema's enum (src/routes/schemas.ts) are derived from it.
 */
export const ERRORS = {
  invalid_request: { status: 400, message: "The request is invalid" },
  invalid_credentials: { status: 401, message: "The credentials are incorrect" },
  email_not_verified: { status: 401, message: "Verify your email address before signing in" },
  invalid_token: { status: 401, message: "The token is invalid or expired" },
  forbidden: { status: 403, message: "This is not allowed" },
  account_disabled: { status: 403, message: "The account is disabled" },
  reauthentication_required: { status: 403, message: "Sign in again to confirm it is you, then retry" },
  mfa_required: { status: 403, message: "A second factor is required to finish signing in" },
  captcha_required: { status: 403, message: "Complete the bot check (Turnstile) and send its token" },
  not_found: { status: 404, message: "Not found" },
  conflict: { status: 409, message: "The request conflicts with the current state" },
  payload_too_large: { status: 413, message: "The request body is too large" },
  unsupported_media_type: { status: 415, message: "The content type is not supported" },
  rate_limited: { status: 429, message: "Too many requests; try again later" },
  internal: { status: 500, message: "Something went wrong on our side" },
  unavailable: { status: 503, message: "The service is busy; try again shortly" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Every code, in catalogue order (a non-empty tuple, as `z.enum` wants). */
export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

/** The HTTP status of each code. */
export const ERROR_STATUS = Object.fromEntries(ERROR_CODES.map((code) => [code, ERRORS[code].status])) as {
  [C in ErrorCode]: (typeof ERRORS)[C]["status"];
};

export interface FieldIssue {
  field: string;
  message: string;
}

export interface ErrorBody {
  statusCode: number;
  error: ErrorCode;
  message: string;
  details?: FieldIssue[];
}

export class AuthError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    /** Left out: the code's default message from `ERRORS`. */
    message?: string,
    readonly details?: FieldIssue[],
    /** Seconds, for rate_limited and unavailable answers. */
    readonly retryAfter?: number,
  ) {
    super(message ?? ERRORS[code].message);
    this.name = "AuthError";
    this.status = ERRORS[code].status;
  }

  toJSON(): ErrorBody {
    return {
      statusCode: this.status,
      error: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/**
 * 403 `mfa_required` (API.md §15): the first factor was right and the account has an active second
 * factor. The body adds `mfaToken` (opaque, 5 minutes, for POST /v1/auth/mfa/verify) and `factors`
 * (the kinds the account can answer with); document 000's door spells the token `mfa_token`.
 */
export class MfaRequiredError extends AuthError {
  constructor(
    readonly mfaToken: string,
    readonly factors: string[],
  ) {
    super("mfa_required", "A second factor is required: send a code from the authenticator app or a recovery code to POST /v1/auth/mfa/verify");
    this.name = "MfaRequiredError";
  }

  override toJSON(): ErrorBody & { mfaToken: string; factors: string[] } {
    return { ...super.toJSON(), mfaToken: this.mfaToken, factors: this.factors };
  }
}

export const invalidToken = (message?: string) => new AuthError("invalid_token", message);

export const invalidRequest = (field: string, message: string) =>
  new AuthError("invalid_request", undefined, [{ field, message }]);

/**
 * The answer for a D1 error that says a write named a user who is gone: SQLite's "FOREIGN KEY
 * constraint failed". Every foreign key of the schema references `users.id` (STORAGE.md), so the
 * only parent that can be missing is the user, deleted while the request was in flight: 401
 * `invalid_token`, the answer the request would have had a moment later, never a 500. The writes
 * themselves are guarded (`insertForUser`, src/db/insert-where.ts); this is the net under any that
 * is not. Null for any other error.
 */
export function goneUserError(error: unknown): AuthError | null {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.message.includes("FOREIGN KEY constraint failed")) return invalidToken("The account is gone");
  }
  return null;
}

/**
 * The answer for a request whose user object could not write what it owes D1 (see above): 503
 * `unavailable` with Retry-After, as for any busy dependency, not a 500. Null for any other error.
 */
export function owedWritesError(error: unknown): AuthError | null {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.message.startsWith(OWED_WRITES_UNAVAILABLE)) return new AuthError("unavailable", "The service is busy; try again shortly", undefined, 1);
  }
  return null;
}

/**
 * What D1 and Durable Objects name a failure of the moment in their messages (Cloudflare's D1 "Retry
 * queries" page; Durable Object resets and overloads): the call may succeed if made again.
 */
const TRANSIENT_MESSAGES = [
  "Network connection lost",
  "storage caused object to be reset",
  "reset because its code was updated",
  "is overloaded",
];

/**
 * The answer for an error the platform marks as transient: a Durable Object call or a D1 query that
 * failed for reasons of the moment (an object reset or overloaded, a lost connection). Workers flags
 * such errors `retryable` or `overloaded` (also on errors crossing an RPC call); D1 names them in its
 * message. 503 `unavailable` with Retry-After 1 (s), as for any busy dependency, not a 500. Null for
 * any other error.
 */
export function transientError(error: unknown): AuthError | null {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const flags = e as Error & { retryable?: unknown; overloaded?: unknown };
    if (flags.retryable === true || flags.overloaded === true || TRANSIENT_MESSAGES.some((m) => flags.message.includes(m))) {
      return new AuthError("unavailable", "The service is busy; try again shortly", undefined, 1);
    }
  }
  return null;
}
