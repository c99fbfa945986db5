/**
 * Every setting of the service, parsed and checked once per environment object with zod.
 * In production a missing signing key, the development key, or PBKDF2 iterations above what
 * production workerd allows make `loadConfig` throw `ConfigError`; the app then answers 503 and
 * logs the reasons instead of serving (see src/http/middleware.ts).
 *
 * @example
 * import { loadConfig } from "./index";
 * const config = loadConfig(env);
 * config.rateLimits.login; // { limit: 5, windowSeconds: 60 }
 */
import { z } from "zod";
import { resolveWebauthn } from "../passkeys/settings";
import { parseProviders } from "../identities/providers";
import { DEFAULT_RETRY_DELAYS_SECONDS, MAX_RETRY_DELAY_SECONDS, parseWebhooks } from "../events/settings";
import { MAX_TURNSTILE_TIMEOUT_MS, MIN_TURNSTILE_TIMEOUT_MS, resolveTurnstile } from "../turnstile/settings";

/** Production workerd refuses more (limit-enforcer.h); local workerd does not, so we must. */
export const MAX_PBKDF2_ITERATIONS = 100_000;

/** Signing keys made by `scripts/dev.mjs` and the tests carry this kid prefix. */
export const DEV_KEY_PREFIX = "dev-";

export const RATE_LIMIT_BUCKETS = [
  "guest",
  "login",
  "refresh",
  "signout",
  "upgrade",
  "register",
  "recovery",
  "reset",
  "sessions",
  "code",
  "account",
  "admin",
] as const;
export type RateLimitBucket = (typeof RATE_LIMIT_BUCKETS)[number];

export interface Rate {
  limit: number;
  windowSeconds: number;
}

const rate = z
  .string()
  .regex(/^\d+\/\d+$/, "must look like LIMIT/SECONDS, for example 5/60")
  .transform((value): Rate => {
    const [limit, windowSeconds] = value.split("/").map(Number) as [number, number];
    return { limit, windowSeconds };
  })
  .refine((r) => r.limit >= 1 && r.windowSeconds >= 1 && r.windowSeconds <= 86_400, {
    message: "limit must be at least 1 and the window 1 to 86400 seconds",
  });

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const list = z
  .string()
  .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean));
const origins = list.pipe(z.array(z.url().transform((u) => new URL(u).origin)));

const jwk = z
  .object({ kty: z.literal("EC"), crv: z.literal("P-256"), x: z.string(), y: z.string(), kid: z.string().min(1) })
  .loose();
const privateJwk = jwk.extend({ d: z.string() });
const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "is not valid JSON" });
      return z.NEVER;
    }
  }).pipe(schema);

const EnvSchema = z.object({
  ENVIRONMENT: z.enum(["development", "production"]).default("production"),
  PUBLIC_URL: z.union([z.literal(""), z.url()]).default(""),
  JWT_ISSUER: z.string().min(1).default("edge-auth"),
  JWT_AUDIENCE: z.string().min(1).default("edge-auth-clients"),
  JWT_SIGNING_KEY: json(privateJwk).optional(),
  JWT_PREVIOUS_KEYS: json(z.array(jwk)).default([]),
  PASSWORD_PEPPER: z.string().min(32, "must be at least 32 characters").optional(),
  ACCESS_TOKEN_TTL_SECONDS: int(60, 86_400).default(3600),
  REFRESH_TOKEN_TTL_DAYS: int(1, 365).default(30),
  SESSION_MAX_DAYS: int(1, 3650).default(365),
  REFRESH_REUSE_WINDOW_SECONDS: int(0, 300).default(10),
  MAX_SESSIONS_PER_USER: int(1, 100).default(5),
  PASSWORD_MIN_LENGTH: int(8, 128).default(8),
  PBKDF2_ITERATIONS: int(10_000, 10_000_000).default(MAX_PBKDF2_ITERATIONS),
  REQUIRE_EMAIL_VERIFICATION: bool.default(true),
  RESET_TOKEN_TTL_MINUTES: int(5, 24 * 60).default(30),
  VERIFY_TOKEN_TTL_HOURS: int(1, 24 * 7).default(24),
  CORS_ORIGINS: origins.default([]),
  REDIRECT_ORIGINS: origins.default([]),
  CLIENT_ALIASES: json(z.record(z.string(), z.url())).default({}),
  PLATFORM_NAME: z.string().min(1).max(100).default("Edge Auth"),
  MAIL_TRANSPORT: z.enum(["outbox", "cloudflare", "http"]).default("outbox"),
  MAIL_FROM: z.email().default("no-reply@example.com"),
  MAIL_API_URL: z.url().default("https://api.resend.com/emails"),
  MAIL_API_KEY: z.string().optional(),
  BODY_LIMIT_BYTES: int(1024, 1_048_576).default(16_384),
  UPLOAD_LIMIT_BYTES: int(1024, 10_485_760).default(2_097_152),
  RATE_LIMIT_GUEST: rate.default({ limit: 5, windowSeconds: 3600 }),
  RATE_LIMIT_LOGIN: rate.default({ limit: 5, windowSeconds: 60 }),
  RATE_LIMIT_REFRESH: rate.default({ limit: 5, windowSeconds: 60 }),
  RATE_LIMIT_SIGNOUT: rate.default({ limit: 2, windowSeconds: 60 }),
  RATE_LIMIT_UPGRADE: rate.default({ limit: 5, windowSeconds: 60 }),
  RATE_LIMIT_REGISTER: rate.default({ limit: 10, windowSeconds: 3600 }),
  RATE_LIMIT_RECOVERY: rate.default({ limit: 5, windowSeconds: 3600 }),
  RATE_LIMIT_RECOVERY_PER_EMAIL: rate.default({ limit: 3, windowSeconds: 3600 }),
  RATE_LIMIT_RESET: rate.default({ limit: 10, windowSeconds: 60 }),
  RATE_LIMIT_SESSIONS: rate.default({ limit: 60, windowSeconds: 60 }),
  RATE_LIMIT_ACCOUNT_LOGIN_FAILURES: rate.default({ limit: 10, windowSeconds: 900 }),
  RATE_LIMIT_CODE: rate.default({ limit: 10, windowSeconds: 3600 }),
  RATE_LIMIT_ACCOUNT: rate.default({ limit: 20, windowSeconds: 60 }),
  RATE_LIMIT_ADMIN: rate.default({ limit: 60, windowSeconds: 60 }),
  // Account lifecycle and admin (API.md §9, §10).
  ADMIN_API_KEY: z.string().min(32, "must be at least 32 characters").optional(),
  ACTIVITY_RETENTION_DAYS: int(1, 3650).default(90),
  GUEST_RETENTION_DAYS: int(1, 3650).default(30),
  CHANGE_EMAIL_TOKEN_TTL_HOURS: int(1, 24 * 7).default(24),
  DELETION_TOKEN_TTL_MINUTES: int(5, 24 * 60).default(60),
  // Email codes (API.md §11).
  EMAIL_CODE_TTL_MINUTES: int(1, 60).default(10),
  EMAIL_CODE_SIGN_UP: bool.default(true),
  // Passkeys (API.md §12); defaults derive from PUBLIC_URL and PLATFORM_NAME.
  WEBAUTHN_RP_ID: z.string().optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(100).optional(),
  WEBAUTHN_ORIGINS: list.optional(),
  // OpenID providers (API.md §13): name → { clientIds, issuer?, scopes?, teamId?, keyId? }.
  OIDC_PROVIDERS: json(z.record(z.string(), z.unknown())).default({}),
  OIDC_JWKS_COOLDOWN_SECONDS: int(0, 600).default(30),
  // Second factor (API.md §15): 32 random bytes, base64 or base64url; unset turns enrolment off.
  MFA_ENCRYPTION_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/_-]{43}=?$/, "must be 32 random bytes in base64 or base64url (43 characters)")
    .optional(),
  // Events (API.md §16): endpoint name → { url, events? }; secrets WEBHOOK_SECRET_<NAME>.
  WEBHOOKS: json(z.record(z.string(), z.unknown())).default({}),
  WEBHOOK_RETRY_DELAYS_SECONDS: list
    .pipe(z.array(z.string().regex(/^\d+$/, "must be whole seconds").transform(Number).pipe(z.number().int().max(MAX_RETRY_DELAY_SECONDS))).max(20))
    .default(DEFAULT_RETRY_DELAYS_SECONDS),
  EVENT_RETENTION_DAYS: int(1, 3650).default(30),
  // Turnstile (API.md §17): off without the secret; checked in src/turnstile/settings.ts.
  TURNSTILE_SECRET_KEY: z.string().min(1).max(256).optional(),
  TURNSTILE_ROUTES: list.optional(),
  TURNSTILE_VERIFY_URL: z.string().optional(),
  TURNSTILE_HOSTNAMES: list.optional(),
  TURNSTILE_TIMEOUT_MS: int(MIN_TURNSTILE_TIMEOUT_MS, MAX_TURNSTILE_TIMEOUT_MS).optional(),
  TURNSTILE_SITE_KEY: z.string().max(256).optional(),
  TURNSTILE_SCRIPT_URL: z.string().max(2048).optional(),
});

type ParsedEnv = z.output<typeof EnvSchema>;
export type SigningJwk = z.output<typeof privateJwk>;
export type PublicJwk = z.output<typeof jwk>;

/** The parsed settings: the shape `parse` returns, written once. */
export type Config = ReturnType<typeof parse>;

export class ConfigError extends Error {
  constructor(readonly reasons: string[]) {
    super(`invalid configuration: ${reasons.join("; ")}`);
    this.name = "ConfigError";
  }
}

const cache = new WeakMap<object, Config>();

/** Parses `env` once per environment object; throws ConfigError with every reason at once. */
export function loadConfig(env: object): Config {
  let config = cache.get(env);
  if (!config) {
    config = parse(env);
    cache.set(env, config);
  }
  return config;
}

function parse(env: object) {
  // Empty strings mean "unset", so a blank var falls back to its default.
  const raw = Object.fromEntries(
    Object.entries(env).filter(([, v]) => typeof v === "string" && v !== ""),
  );
  const result = EnvSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => `${i.path.join(".") || "env"}: ${i.message}`),
    );
  }
  const e = result.data;
  const reasons: string[] = [];
  if (e.PBKDF2_ITERATIONS > MAX_PBKDF2_ITERATIONS) {
    reasons.push(
      `PBKDF2_ITERATIONS: ${e.PBKDF2_ITERATIONS} is above ${MAX_PBKDF2_ITERATIONS}, which production Workers refuse`,
    );
  }
  if (!e.JWT_SIGNING_KEY) reasons.push("JWT_SIGNING_KEY: missing (run `npm run dev` locally, or `wrangler secret put`)");
  if (e.ENVIRONMENT === "production") {
    if (e.JWT_SIGNING_KEY?.kid.startsWith(DEV_KEY_PREFIX)) {
      reasons.push("JWT_SIGNING_KEY: the development key must not be used in production");
    }
    if (e.MAIL_TRANSPORT === "outbox") reasons.push("MAIL_TRANSPORT: the outbox is for development only");
    if (e.MAIL_TRANSPORT === "http" && !e.MAIL_API_KEY) reasons.push("MAIL_API_KEY: required by MAIL_TRANSPORT=http");
    if (!e.PUBLIC_URL) reasons.push("PUBLIC_URL: required in production, so links never come from the Host header");
    if (e.MAIL_TRANSPORT === "cloudflare" && !(env as { EMAIL?: unknown }).EMAIL) {
      reasons.push("EMAIL: MAIL_TRANSPORT=cloudflare needs a [[send_email]] binding named EMAIL");
    }
    for (const [alias, target] of Object.entries(e.CLIENT_ALIASES)) {
      // Mailed links carry live tokens: only over https, and with nothing riding along.
      const url = new URL(target);
      if (url.protocol !== "https:" || url.search || url.hash || url.username || url.password) {
        reasons.push(`CLIENT_ALIASES: ${alias} must be an https URL with no query, fragment or credentials`);
      }
    }
  }
  const webauthn = resolveWebauthn({ environment: e.ENVIRONMENT, publicUrl: e.PUBLIC_URL, rpId: e.WEBAUTHN_RP_ID, origins: e.WEBAUTHN_ORIGINS });
  reasons.push(...webauthn.problems);
  const oidc = parseProviders(e.OIDC_PROVIDERS, e.ENVIRONMENT === "production");
  reasons.push(...oidc.problems);
  const webhooks = parseWebhooks(e.WEBHOOKS, env, e.ENVIRONMENT === "production");
  reasons.push(...webhooks.problems);
  const turnstile = resolveTurnstile({
    environment: e.ENVIRONMENT,
    secretKey: e.TURNSTILE_SECRET_KEY,
    routes: e.TURNSTILE_ROUTES,
    verifyUrl: e.TURNSTILE_VERIFY_URL,
    hostnames: e.TURNSTILE_HOSTNAMES,
    timeoutMs: e.TURNSTILE_TIMEOUT_MS,
    siteKey: e.TURNSTILE_SITE_KEY,
    scriptUrl: e.TURNSTILE_SCRIPT_URL,
  });
  reasons.push(...turnstile.problems);
  if (reasons.length > 0 || !e.JWT_SIGNING_KEY) throw new ConfigError(reasons);

  return {
    environment: e.ENVIRONMENT,
    isDevelopment: e.ENVIRONMENT === "development",
    publicUrl: e.PUBLIC_URL.replace(/\/+$/, ""),
    issuer: e.JWT_ISSUER,
    audience: e.JWT_AUDIENCE,
    signingKey: e.JWT_SIGNING_KEY,
    previousKeys: e.JWT_PREVIOUS_KEYS,
    pepper: e.PASSWORD_PEPPER,
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_DAYS * 86_400,
    sessionMaxLifetimeMs: e.SESSION_MAX_DAYS * 86_400_000,
    reuseWindowMs: e.REFRESH_REUSE_WINDOW_SECONDS * 1000,
    maxSessionsPerUser: e.MAX_SESSIONS_PER_USER,
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
    pbkdf2Iterations: e.PBKDF2_ITERATIONS,
    requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION,
    resetTokenTtlMs: e.RESET_TOKEN_TTL_MINUTES * 60_000,
    verifyTokenTtlMs: e.VERIFY_TOKEN_TTL_HOURS * 3_600_000,
    corsOrigins: e.CORS_ORIGINS,
    redirectOrigins: e.REDIRECT_ORIGINS,
    clientAliases: e.CLIENT_ALIASES,
    platformName: e.PLATFORM_NAME,
    mail: { transport: e.MAIL_TRANSPORT, from: e.MAIL_FROM, apiUrl: e.MAIL_API_URL, apiKey: e.MAIL_API_KEY },
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    uploadLimitBytes: e.UPLOAD_LIMIT_BYTES,
    rateLimits: {
      guest: e.RATE_LIMIT_GUEST,
      login: e.RATE_LIMIT_LOGIN,
      refresh: e.RATE_LIMIT_REFRESH,
      signout: e.RATE_LIMIT_SIGNOUT,
      upgrade: e.RATE_LIMIT_UPGRADE,
      register: e.RATE_LIMIT_REGISTER,
      recovery: e.RATE_LIMIT_RECOVERY,
      reset: e.RATE_LIMIT_RESET,
      sessions: e.RATE_LIMIT_SESSIONS,
      code: e.RATE_LIMIT_CODE,
      account: e.RATE_LIMIT_ACCOUNT,
      admin: e.RATE_LIMIT_ADMIN,
    } satisfies Record<RateLimitBucket, Rate>,
    recoveryPerEmail: e.RATE_LIMIT_RECOVERY_PER_EMAIL,
    accountLoginFailures: e.RATE_LIMIT_ACCOUNT_LOGIN_FAILURES,
    adminApiKey: e.ADMIN_API_KEY,
    activityRetentionMs: e.ACTIVITY_RETENTION_DAYS * 86_400_000,
    guestRetentionMs: e.GUEST_RETENTION_DAYS * 86_400_000,
    changeEmailTokenTtlMs: e.CHANGE_EMAIL_TOKEN_TTL_HOURS * 3_600_000,
    deletionTokenTtlMs: e.DELETION_TOKEN_TTL_MINUTES * 60_000,
    emailCodeTtlMs: e.EMAIL_CODE_TTL_MINUTES * 60_000,
    emailCodeSignUp: e.EMAIL_CODE_SIGN_UP,
    // Refined by src/passkeys/ and src/identities/ (their own checks run at start too).
    webauthn: { rpId: webauthn.rpId, rpName: e.WEBAUTHN_RP_NAME ?? e.PLATFORM_NAME, origins: webauthn.origins },
    oidcProviders: oidc.providers,
    oidcJwksCooldownMs: e.OIDC_JWKS_COOLDOWN_SECONDS * 1000,
    /** base64url of the 32-byte key TOTP secrets are encrypted under (src/mfa/crypto.ts), or undefined. */
    mfaEncryptionKey: e.MFA_ENCRYPTION_KEY?.replace(/=$/, "").replace(/\+/g, "-").replace(/\//g, "_"),
    webhooks: webhooks.endpoints,
    webhookRetryDelaysSeconds: e.WEBHOOK_RETRY_DELAYS_SECONDS,
    eventRetentionMs: e.EVENT_RETENTION_DAYS * 86_400_000,
    /** Undefined: Turnstile is off (no TURNSTILE_SECRET_KEY). */
    turnstile: turnstile.settings,
  };
}
