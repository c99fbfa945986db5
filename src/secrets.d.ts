// Secrets are not in wrangler.toml, so `wrangler types` cannot see them (see docs/configuration.md, "Secrets").
declare namespace Cloudflare {
  interface Env {
    JWT_SIGNING_KEY?: string;
    JWT_PREVIOUS_KEYS?: string;
    PASSWORD_PEPPER?: string;
    MAIL_API_KEY?: string;
    ADMIN_API_KEY?: string;
    MFA_ENCRYPTION_KEY?: string;
    /** Turnstile's secret key (API.md §17); Turnstile is off without it. */
    TURNSTILE_SECRET_KEY?: string;
    [oidcSecret: `OIDC_SECRET_${string}`]: string | undefined;
    [webhookSecret: `WEBHOOK_SECRET_${string}`]: string | undefined;
    /** The [assets] binding of wrangler.toml (Scalar's script for /docs), until `wrangler types` is rerun. */
    ASSETS: Fetcher;
  }
}

interface Env {
  ASSETS: Fetcher;
}
