/**
 * Request and answer schemas of the password-free sign-ins: email codes (API.md §11), passkeys
 * (§12) and provider identities (§13), apart from their routes so that the client SDK's type-only
 * imports (sdk/client/routes.ts) reach these shapes and not the services behind the routes.
 *
 * @example
 * import { EmailCodeVerifyBody, IdTokenBody, PasskeyRegisterBody } from "./signin-schemas";
 */
import { z } from "@hono/zod-openapi";
import { Email, TurnstileToken, Uuid } from "./schemas";

// API.md §11, email codes.
export const EmailCodeBody = z
  .object({
    email: Email,
    platformName: z.string().max(200).optional(),
    logoUrl: z.string().max(2048).optional(),
    baseUrl: z.string().max(2048).optional(),
    clientAlias: z.string().max(100).optional(),
    turnstileToken: TurnstileToken,
  })
  .openapi("EmailCodeBody");

export const EmailCodeVerifyBody = z
  .object({ email: Email, code: z.string().trim().regex(/^\d{6}$/, "must be 6 digits").openapi({ example: "042917" }) })
  .openapi("EmailCodeVerifyBody");

// API.md §12, passkeys: WebAuthn's standard JSON forms.
const B64 = z.string().max(8192).regex(/^[A-Za-z0-9_-]*={0,2}$/, "must be base64url");

export const Passkey = z
  .object({ id: z.string(), name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable(), backedUp: z.boolean() })
  .openapi("Passkey");
// No control characters or line separators: the name is shown in lists and activity, one line.
export const PasskeyName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/, "must not hold control characters");
export const PasskeyOptions = z.object({ challengeId: z.string(), options: z.record(z.string(), z.unknown()) });

export const RegistrationResponse = z
  .looseObject({
    id: B64,
    rawId: B64,
    type: z.literal("public-key"),
    response: z.looseObject({ clientDataJSON: B64, attestationObject: B64, transports: z.array(z.string().max(32)).max(10).optional() }),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .openapi("RegistrationResponseJSON");
export const AuthenticationResponse = z
  .looseObject({
    id: B64,
    rawId: B64,
    type: z.literal("public-key"),
    response: z.looseObject({ clientDataJSON: B64, authenticatorData: B64, signature: B64, userHandle: B64.nullable().optional() }),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .openapi("AuthenticationResponseJSON");

export const PasskeyRegisterBody = z.object({ challengeId: Uuid, response: RegistrationResponse, name: PasskeyName.optional() }).openapi("PasskeyRegisterBody");
export const PasskeyLoginBody = z.object({ challengeId: Uuid, response: AuthenticationResponse }).openapi("PasskeyLoginBody");
export const PasskeyParams = z.object({ passkeyId: Uuid.openapi({ param: { name: "passkeyId", in: "path" } }) });
export const PasskeyBody = z.object({ passkey: Passkey });

// API.md §13, provider identities.
export const ProviderName = z.string().min(1).max(40).openapi({ example: "google" });
export const IdTokenBody = z
  .object({
    provider: ProviderName,
    idToken: z.string().min(1).max(8192),
    nonce: z.string().min(1).max(512).optional(),
  })
  .openapi("IdTokenBody");
export const Identity = z
  .object({ id: z.uuid(), provider: z.string(), email: z.string().nullable(), createdAt: z.string().openapi({ format: "date-time" }) })
  .openapi("Identity");
