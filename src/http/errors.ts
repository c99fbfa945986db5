/**
 * The one error type services throw, and the JSON shape of every error answer (API.md §5):
 * `{ statusCode, error, message, details? }`. Services know nothing of HTTP beyond the status each
 * code maps to; src/http/middleware.ts turns any thrown value into this shape.
 *
 * @example
 * import { AuthError } from "./errors";
 * throw new AuthError("invalid_credentials", "Email or password is incorrect");
 */

export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_credentials: 401,
  email_not_verified: 401,
  invalid_token: 401,
  forbidden: 403,
  account_disabled: 403,
  reauthentication_required: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

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
    message: string,
    readonly details?: FieldIssue[],
    /** Seconds, for rate_limited and unavailable answers. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AuthError";
    this.status = ERROR_STATUS[code];
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

export const invalidToken = (message = "The token is invalid or expired") =>
  new AuthError("invalid_token", message);

export const invalidRequest = (field: string, message: string) =>
  new AuthError("invalid_request", "The request is invalid", [{ field, message }]);
