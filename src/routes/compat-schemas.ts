/**
 * Schemas of the compatibility doors (API.md §4): document 000's snake_case TokenResponse, document
 * 001's `{ statusCode, message, data? }` envelope, and the request bodies those documents name that
 * the canonical API does not have. Request field names are camelCase because the body middleware
 * has already renamed snake_case input (`refresh_token` reaches these as `refreshToken`); the
 * Document 000's bodies are spelled as that document spells them (snake_case): the door declares
 * the spelling (`SNAKE_000`, src/http/spelling.ts), so its body reaches these schemas, and its
 * errors name the fields, in those names, whichever case the caller sent.
 *
 * @example
 * import { TokenResponse, envelopeOf } from "./compat-schemas";
 * responses: { 200: jsonContent(envelopeOf(TokenPair, "SigninEnvelope"), "Tokens") }
 */
import { z } from "@hono/zod-openapi";
import { Email, OpaqueToken, Password, PictureFile, PictureUrl, RefreshTokenField, TurnstileToken, Username, Uuid } from "./schemas";

/** Document 000's user: the canonical User with snake_case names. */
export const SnakeUser = z
  .object({
    id: z.uuid(),
    email: z.string().nullable(),
    username: z.string().nullable(),
    is_guest: z.boolean(),
    email_verified: z.boolean(),
    profile_picture: z.string().nullable(),
    created_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("SnakeUser");

export const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int().openapi({ example: 3600 }),
    refresh_token: z.string(),
    user: SnakeUser,
  })
  .openapi("TokenResponse");

/** Document 001 answers every success in this envelope; its errors are the §5 error body. */
export const envelopeOf = <T extends z.ZodType>(data: T, name: string) =>
  z.object({ statusCode: z.number().int().openapi({ example: 200 }), message: z.string(), data }).openapi(name);

export const Envelope = z
  .object({ statusCode: z.number().int().openapi({ example: 200 }), message: z.string() })
  .openapi("Envelope");

/** Document 000's spelling of the canonical names its bodies use (camelCase input is accepted too). */
export const SNAKE_000 = { accessToken: "access_token", refreshToken: "refresh_token", profilePicture: "profile_picture", mfaToken: "mfa_token" } as const;

/** Document 000's refresh proves the session twice: the (possibly expired) access token and the refresh token. */
export const RefreshWithAccessBody = z
  .object({
    access_token: z.string().min(1).max(4096).openapi({ description: "May be expired, but validly signed and of the same session" }),
    refresh_token: RefreshTokenField,
  })
  .openapi("RefreshWithAccessBody");

/** Document 000's upgrade body (snake_case `profile_picture`). */
export const UpgradeBody000 = z
  .object({ email: Email, username: Username, password: Password, profile_picture: PictureUrl.optional() })
  .openapi("UpgradeBody000");
export const UpgradeForm000 = UpgradeBody000.extend({ profile_picture: z.union([PictureFile, PictureUrl]).optional() });

/**
 * `POST /auth/signout` serves both documents: a `refresh_token` selects document 000 (204), anything
 * else document 001 (200 envelope), where `sessionIds` names sessions to end (the current one when
 * left out).
 */
export const SignoutBody = z
  .object({
    refresh_token: RefreshTokenField.optional().openapi({ description: "Document 000: end this token's session" }),
    sessionIds: z
      .array(Uuid)
      .min(1)
      .max(50)
      .optional()
      .openapi({ description: "Document 001: sessions of the caller to end; the current one when left out" }),
  })
  .openapi("SignoutBody");

export const SigninBody = z.object({ email: Email, password: Password, turnstileToken: TurnstileToken }).openapi("SigninBody");

export const EmailParams = z.object({
  email: Email.openapi({ param: { name: "email", in: "path" }, example: "ada@example.com" }),
});

export const PasswordResetBody = z
  .object({ password: Password.openapi({ description: "The new password" }), token: OpaqueToken })
  .openapi("PasswordResetBody");

export const AuthenticatedResetBody = z
  .object({ email: Email, oldPassword: Password, newPassword: Password })
  .openapi("AuthenticatedResetBody");

export const UserIdParams = z.object({
  userId: Uuid.openapi({ param: { name: "userId", in: "path" } }),
});
