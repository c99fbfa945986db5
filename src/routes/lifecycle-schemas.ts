/**
 * Request and answer schemas of the account lifecycle (API.md §9) and the admin API (§10); the
 * shared ones (User, Email, Password…) come from ./schemas.
 *
 * @example
 * import { ProfileBody, ActivityQuery } from "./lifecycle-schemas";
 */
import { z } from "@hono/zod-openapi";
import { Email, OpaqueToken, Password, SecondFactorFields, User, Username, Uuid } from "./schemas";

const PictureUrl = z.string().max(2048).openapi({ description: "An https URL", example: "https://example.com/me.png" });
const PictureFile = z
  .instanceof(File)
  .openapi({ type: "string", format: "binary", description: "PNG, JPEG, GIF or WebP, at most 2 MiB" });

export const ProfileBody = z
  .object({
    username: Username.optional(),
    profilePicture: PictureUrl.nullable().optional().openapi({ description: "An https URL, or null to remove the picture" }),
  })
  .strict()
  .openapi("ProfileBody");
/** In a form, an empty profilePicture removes the picture. */
export const ProfileForm = z.object({ username: Username.optional(), profilePicture: z.union([PictureFile, PictureUrl]).optional() });

export const ChangeEmailBody = z
  .object({ newEmail: Email, password: Password.optional().openapi({ description: "Required when the account has a password" }), ...SecondFactorFields })
  .openapi("ChangeEmailBody");

export const PasswordBody = z
  .object({ password: Password.optional().openapi({ description: "Required when the account has a password" }), ...SecondFactorFields })
  .openapi("ReauthenticationBody");

export const MessageBody = z.object({ message: z.string() });
export const UserBody = z.object({ user: User });

export const ActivityQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ param: { name: "limit", in: "query" }, example: 50 }),
  before: z.string().max(200).optional().openapi({ param: { name: "before", in: "query" }, description: "The nextCursor of the previous page" }),
});

export const ActivityEvent = z
  .object({
    id: z.string(),
    type: z.string(),
    createdAt: z.string().openapi({ format: "date-time" }),
    ipAddress: z.string().nullable(),
    userAgent: z.string().nullable(),
    sessionId: z.string().nullable(),
    method: z.string().optional().openapi({
      description:
        "sign_in and sign_in_failed: password, code, passkey, id_token, oauth or guest; an aal2 sign-in names both methods joined by + (password+totp, code+recovery_code); mfa_failed: totp or recovery_code",
    }),
  })
  .openapi("ActivityEvent");

export const ActivityPage = z.object({ events: z.array(ActivityEvent), nextCursor: z.string().nullable() }).openapi("ActivityPage");

export const AdminUser = User.extend({
  disabled: z.boolean(),
  lastSignInAt: z.string().nullable(),
  sessionCount: z.number().int(),
  hasPassword: z.boolean(),
}).openapi("AdminUser");

export const AdminSearchQuery = z.object({
  query: z.string().max(254).optional().openapi({ param: { name: "query", in: "query" }, description: "An email or username prefix" }),
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ param: { name: "limit", in: "query" } }),
  cursor: z.string().max(200).optional().openapi({ param: { name: "cursor", in: "query" } }),
});

export const UserParams = z.object({ userId: Uuid.openapi({ param: { name: "userId", in: "path" } }) });

export const AdminUserDetail = z
  .object({
    user: AdminUser,
    sessions: z.array(
      z.object({
        id: z.string(),
        createdAt: z.string(),
        lastUsedAt: z.string(),
        expiresAt: z.string().nullable(),
        ipAddress: z.string().nullable(),
        userAgent: z.string().nullable(),
      }),
    ),
    identities: z.array(z.object({ id: z.string(), provider: z.string(), email: z.string().nullable(), createdAt: z.string() })),
    passkeys: z.array(
      z.object({ id: z.string(), name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable(), backedUp: z.boolean() }),
    ),
    activity: z.array(ActivityEvent).openapi({ description: "The user's 20 latest activity events (API.md §9), newest first" }),
  })
  .openapi("AdminUserDetail");

export { OpaqueToken };
