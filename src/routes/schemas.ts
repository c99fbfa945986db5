/**
 * The zod schemas that validate every request and describe every answer; /openapi.json is
 * generated from these same objects. Field names are camelCase; the body middleware has already
 * renamed snake_case input.
 *
 * @example
 * import { LoginBody, TokenPair } from "./schemas";
 */
import { z } from "@hono/zod-openapi";
import { emailProblem } from "../accounts/email-address";
import { USERNAME_PATTERN } from "../accounts/users";
import { ERROR_CODES } from "../http/errors";

/** The address rule is src/accounts/email-address.ts (ASCII, A-label domains). */
export const Email = z
  .string()
  .trim()
  .max(254)
  .superRefine((value, ctx) => {
    const problem = emailProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .openapi({ format: "email", example: "ada@example.com" });

export const Username = z
  .string()
  .trim()
  .regex(USERNAME_PATTERN, "must be 3 to 30 letters, digits, '_', '.' or '-'")
  .openapi({ example: "ada.l" });

/** Length and policy are checked by the service, which can name the exact reason. */
export const Password = z.string().min(1).max(1024).openapi({ example: "correct horse battery staple" });

export const PictureUrl = z.string().max(2048).openapi({ description: "An https URL", example: "https://example.com/me.png" });
export const PictureFile = z
  .instanceof(File)
  .openapi({ type: "string", format: "binary", description: "PNG, JPEG, GIF or WebP, at most 2 MiB" });

export const OpaqueToken = z.string().min(1).max(512);
/**
 * A refresh token field. Up to 4096 characters, as an access token field is: an access token sent
 * here by mistake (API.md §15's claims make it longer than 512) must get the refresh route's 401
 * `invalid_token`, not a 400 that tells it apart.
 */
export const RefreshTokenField = z.string().min(1).max(4096);

/**
 * API.md §17: the Turnstile widget's token, on the routes TURNSTILE_ROUTES may guard. Checked
 * before validation by src/http/turnstile.ts (the header `CF-Turnstile-Response` works too);
 * accepted and ignored when Turnstile is off or does not guard the route.
 */
export const TurnstileToken = z
  .string()
  .max(2048)
  .optional()
  .openapi({ description: "A Turnstile token, required when the service's TURNSTILE_ROUTES guards this route (or send the CF-Turnstile-Response header)" });

/** OpenAPI only: the header form of the token and the answers of the gate, on each route it may guard. */
export const turnstileDoc = {
  parameters: [
    {
      name: "CF-Turnstile-Response",
      in: "header" as const,
      required: false,
      schema: { type: "string" as const, maxLength: 2048 },
      description: "A Turnstile token (API.md §17); the body field `turnstileToken` (a form: `cf-turnstile-response`) works too",
    },
  ],
};
/** Ids are stored in lower case; an upper-case spelling (iOS's `uuidString`) names the same one. */
export const Uuid = z.uuid().transform((id) => id.toLowerCase());

export const User = z
  .object({
    id: z.uuid(),
    email: z.string().nullable(),
    username: z.string().nullable(),
    isGuest: z.boolean(),
    emailVerified: z.boolean(),
    profilePicture: z.string().nullable(),
    createdAt: z.string().openapi({ format: "date-time" }),
    mfaEnabled: z.boolean().openapi({ description: "Whether the account has an active second factor (API.md §15)" }),
  })
  .openapi("User");

export const TokenPair = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int().openapi({ example: 3600 }),
    refreshExpiresIn: z.number().int().nullable().openapi({ description: "null for guests: their refresh tokens do not expire" }),
    sessionId: z.uuid(),
    aal: z.enum(["aal1", "aal2"]).openapi({ description: "The session's assurance level (API.md §15): aal2 when two factors or a passkey proved it" }),
    user: User,
  })
  .openapi("TokenPair");

export const Session = z
  .object({
    id: z.uuid(),
    createdAt: z.string(),
    lastUsedAt: z.string(),
    expiresAt: z.string().nullable(),
    ipAddress: z.string().nullable(),
    userAgent: z.string().nullable(),
    current: z.boolean(),
  })
  .openapi("Session");

export const ErrorBody = z
  .object({
    statusCode: z.number().int(),
    error: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    mfaToken: z.string().optional().openapi({ description: "mfa_required only (API.md §15): the token for POST /v1/auth/mfa/verify, valid 5 minutes (document 000's door: mfa_token)" }),
    factors: z.array(z.enum(["totp", "recovery_code"])).optional().openapi({ description: "mfa_required only: the kinds of second factor the account can answer with" }),
  })
  .openapi("Error");

/** Where a mailed link may point instead of the service's own page (API.md §7; src/mail/links.ts checks them). */
const LinkFields = { baseUrl: z.string().max(2048).optional(), clientAlias: z.string().max(100).optional() };

export const RegisterBody = z
  .object({ email: Email, password: Password, username: Username.optional(), profilePicture: PictureUrl.optional(), turnstileToken: TurnstileToken, ...LinkFields })
  .openapi("RegisterBody");
export const RegisterForm = RegisterBody.extend({
  profilePicture: z.union([PictureFile, PictureUrl]).optional(),
  "cf-turnstile-response": TurnstileToken,
});

/** The guest route's optional body: only the Turnstile token (API.md §17). */
export const GuestBody = z.object({ turnstileToken: TurnstileToken }).openapi("GuestBody");

/**
 * Document 000: "either one is sufficient", so both may come; the email then decides (docs/accounts.md).
 * A union, so the OpenAPI document says so too (anyOf); with neither, the error names `email`.
 */
export const LoginBody = z
  .union([
    z.object({ email: Email, username: Username.optional(), password: Password, turnstileToken: TurnstileToken }),
    z.object({ username: Username, password: Password, turnstileToken: TurnstileToken }),
  ])
  .openapi("LoginBody");

export const UpgradeBody = z
  .object({ email: Email, username: Username, password: Password, profilePicture: PictureUrl.optional() })
  .openapi("UpgradeBody");
export const UpgradeForm = UpgradeBody.extend({ profilePicture: z.union([PictureFile, PictureUrl]).optional() });

export const RefreshBody = z.object({ refreshToken: RefreshTokenField }).openapi("RefreshBody");
export const TokenBody = z.object({ token: OpaqueToken }).openapi("TokenBody");
export const EmailBody = z.object({ email: Email, turnstileToken: TurnstileToken }).openapi("EmailBody");
export const ResendVerificationBody = EmailBody.extend(LinkFields).openapi("ResendVerificationBody");

export const ForgotBody = z
  .object({
    email: Email,
    logoUrl: z.string().max(2048).optional(),
    platformName: z.string().max(200).optional(),
    baseUrl: z.string().max(2048).optional(),
    clientAlias: z.string().max(100).optional(),
    turnstileToken: TurnstileToken,
  })
  .openapi("ForgotPasswordBody");

export const ResetBody = z
  .object({ email: Email, token: OpaqueToken, newPassword: Password })
  .openapi("ResetPasswordBody");

/**
 * A second factor sent with a sensitive change (API.md §15 step-up): a code from the authenticator
 * app, or a recovery code. Needed, beside the password, only by an account with an active factor
 * whose access token is not aal2 from the last 10 minutes.
 */
export const SecondFactorFields = {
  code: z.string().min(1).max(16).optional().openapi({ description: "A current TOTP code (accounts with a second factor; API.md §15)", example: "492039" }),
  recoveryCode: z.string().min(1).max(64).optional().openapi({ description: "A recovery code, instead of `code`" }),
};

export const ChangePasswordBody = z
  .object({ currentPassword: Password, newPassword: Password, revokeOtherSessions: z.boolean().optional(), ...SecondFactorFields })
  .openapi("ChangePasswordBody");

export const SessionParams = z.object({
  sessionId: Uuid.openapi({ param: { name: "sessionId", in: "path" } }),
});

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** A required JSON request body. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } }, required: true });

/** JSON or a multipart form (for an uploaded picture); the handler picks with jsonOrFormBody. */
export const jsonOrForm = <J extends z.ZodType, F extends z.ZodType>(jsonSchema: J, formSchema: F) => ({
  content: { "application/json": { schema: jsonSchema }, "multipart/form-data": { schema: formSchema } },
  required: false,
});

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, jsonContent(ErrorBody, `Error ${s}`)]));

export const bearer = [{ bearerAuth: [] }];
