/**
 * Request and answer schemas of the second factor (API.md §15), in a schema file so the SDK can
 * import their types without the routes' services (sdk/client/routes.ts).
 *
 * @example
 * import { MfaVerifyBody } from "./mfa-schemas";
 */
import { z } from "@hono/zod-openapi";
import { Password, SecondFactorFields } from "./schemas";

export const Code = z.string().min(1).max(16).openapi({ example: "492039" });
export const Factor = z
  .object({ id: z.uuid(), type: z.literal("totp"), createdAt: z.string().openapi({ format: "date-time" }), lastUsedAt: z.string().nullable().openapi({ format: "date-time" }) })
  .openapi("MfaFactor");
export const RecoveryCodes = z.array(z.string()).openapi({ description: "Ten single-use codes, shown once", example: ["k3mz-8qpa-77tw"] });
export const MfaVerifyBody = z.object({ mfaToken: z.string().min(1).max(512), ...SecondFactorFields }).openapi("MfaVerifyBody");
export const MfaStepUpBody = z.object(SecondFactorFields).openapi("MfaStepUpBody");
export const MfaReauthBody = z.object({ password: Password.optional(), ...SecondFactorFields }).openapi("MfaReauthenticationBody");
export const FactorParams = z.object({ factorId: z.uuid().transform((id) => id.toLowerCase()).openapi({ param: { name: "factorId", in: "path" } }) });
export const optionalJson = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } }, required: false });
export const bodyOf = <T>(value: T | undefined) => (value ?? {}) as NonNullable<T>;

export const MfaEnrollBody = z.object({ password: Password.optional().openapi({ description: "§9 re-authentication: required when the account has a password" }) }).openapi("MfaEnrollBody");
export const MfaEnrollment = z.object({ factorId: z.uuid(), secret: z.string().openapi({ description: "base32" }), otpauthUri: z.string() }).openapi("MfaEnrollment");
export const MfaActivateBody = z.object({ factorId: z.uuid().transform((id) => id.toLowerCase()), code: Code }).openapi("MfaActivateBody");
export const MfaFactors = z.object({ factors: z.array(Factor), recoveryCodesRemaining: z.number().int() }).openapi("MfaFactors");
export const MfaRecoveryCodes = z.object({ recoveryCodes: RecoveryCodes }).openapi("MfaRecoveryCodes");
