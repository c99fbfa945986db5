/**
 * Turnstile's settings (API.md §17), read from the environment and checked when the configuration
 * is parsed (a bad value stops the service like any other setting). Off unless
 * `TURNSTILE_SECRET_KEY` is set; then:
 *
 * - `TURNSTILE_ROUTES`: comma-separated names from `TURNSTILE_ROUTE_NAMES`, each covering that
 *   route on every door (`forgot-password` is `/v1/auth/forgot-password` and
 *   `/auth/forgot-password`). Default: `DEFAULT_TURNSTILE_ROUTES`.
 * - `TURNSTILE_VERIFY_URL`: siteverify. Default: Cloudflare's. https in production.
 * - `TURNSTILE_HOSTNAMES`: comma-separated host names a token may have been issued on (siteverify's
 *   `hostname`); unset, any host the widget's own allow-list (Cloudflare dashboard) accepted.
 * - `TURNSTILE_TIMEOUT_MS`: how long siteverify may take, retry included, before the request is
 *   answered 503. Default 10,000 (the contract's 10 seconds); 100 to 30,000.
 * - `TURNSTILE_SITE_KEY` (public): the widget's site key, for the service's own /delete-account
 *   page. Unset while `request-deletion` is guarded, the page says plainly that its email form
 *   cannot be used (it does not stop the service: the API and the mailed links keep working).
 * - `TURNSTILE_SCRIPT_URL`: the widget's script. Default (and the only value production accepts):
 *   Cloudflare's `api.js`; development may name a local stand-in (http allowed), for tests.
 *
 * Production refuses Cloudflare's dummy secret keys (`1x0000…AA` passes every token, so a
 * deployment carrying it would look protected and not be).
 *
 * @example
 * const t = resolveTurnstile({ environment: "production", secretKey: "0x4AAA…", routes: ["guest"] });
 * // { settings: { secretKey, routes: Set { "guest" }, verifyUrl: "https://challenges.cloudflare.com/…", … }, problems: [] }
 */

/** Every route name `TURNSTILE_ROUTES` may hold; each names that route on every door. */
export const TURNSTILE_ROUTE_NAMES = [
  "guest",
  "register",
  "login",
  "email-code",
  "forgot-password",
  "resend-verification",
  "request-deletion",
] as const;
export type TurnstileRoute = (typeof TURNSTILE_ROUTE_NAMES)[number];

/** API.md §17's default: the routes that create accounts or send mail to any address. */
export const DEFAULT_TURNSTILE_ROUTES: readonly TurnstileRoute[] = [
  "guest",
  "register",
  "email-code",
  "forgot-password",
  "resend-verification",
  "request-deletion",
];

/** Cloudflare's widget script (the page adds `?render=explicit&onload=…`). */
export const CLOUDFLARE_TURNSTILE_SCRIPT_URL = "https://challenges.cloudflare.com/turnstile/v0/api.js";
export const CLOUDFLARE_SITEVERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
export const DEFAULT_TURNSTILE_TIMEOUT_MS = 10_000;
export const MIN_TURNSTILE_TIMEOUT_MS = 100;
export const MAX_TURNSTILE_TIMEOUT_MS = 30_000;

/** The checked settings; `undefined` in the config when Turnstile is off. */
export interface TurnstileSettings {
  /** The widget's secret key (a Worker secret), sent only to siteverify. */
  secretKey: string;
  routes: ReadonlySet<TurnstileRoute>;
  verifyUrl: string;
  /** Lower-case host names; `null`: any. */
  hostnames: ReadonlySet<string> | null;
  /** Milliseconds for the whole check (a retry included). */
  timeoutMs: number;
  /** The widget's public site key; `null`: unset (the /delete-account form then says it cannot be used). */
  siteKey: string | null;
  /** The widget's script, without query (Cloudflare's, except in development). */
  scriptUrl: string;
}

export interface TurnstileInput {
  environment: "development" | "production";
  secretKey?: string | undefined;
  routes?: string[] | undefined;
  verifyUrl?: string | undefined;
  hostnames?: string[] | undefined;
  timeoutMs?: number | undefined;
  siteKey?: string | undefined;
  scriptUrl?: string | undefined;
}

/** Cloudflare's documented test secrets (always pass, always fail, always "already spent"). */
const DUMMY_SECRET = /^[0-9]x0+AA$/;
/** Cloudflare's documented test site keys (`1x00000000000000000000AA`, `3x…FF`, …). */
const DUMMY_SITE_KEY = /^[0-9]x0{20}[A-Z]{2}$/;
const SITE_KEY = /^[0-9A-Za-z_-]{1,128}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

const isRoute = (name: string): name is TurnstileRoute => (TURNSTILE_ROUTE_NAMES as readonly string[]).includes(name);

/** The effective settings (none without a secret key) and every problem with them. */
export function resolveTurnstile(input: TurnstileInput): { settings: TurnstileSettings | undefined; problems: string[] } {
  const problems: string[] = [];
  const production = input.environment === "production";
  const routes = input.routes?.length ? input.routes : DEFAULT_TURNSTILE_ROUTES;
  const unknown = routes.filter((name) => !isRoute(name));
  if (unknown.length > 0) {
    problems.push(`TURNSTILE_ROUTES: unknown route ${unknown.map((n) => JSON.stringify(n)).join(", ")} (known: ${TURNSTILE_ROUTE_NAMES.join(", ")})`);
  }
  const verifyUrl = input.verifyUrl ?? CLOUDFLARE_SITEVERIFY_URL;
  let url: URL | null = null;
  try {
    url = new URL(verifyUrl);
  } catch {
    problems.push("TURNSTILE_VERIFY_URL: must be a URL");
  }
  if (url && (url.username || url.password || url.hash)) problems.push("TURNSTILE_VERIFY_URL: must carry no credentials or fragment");
  if (url && url.protocol !== "https:" && (production || url.protocol !== "http:")) {
    problems.push(`TURNSTILE_VERIFY_URL: must be https${production ? " in production" : " (or http in development)"}`);
  }
  const hostnames = input.hostnames?.length ? input.hostnames.map((h) => h.toLowerCase()) : null;
  for (const host of hostnames ?? []) {
    if (!HOSTNAME.test(host)) problems.push(`TURNSTILE_HOSTNAMES: ${JSON.stringify(host)} is not a host name`);
  }
  const secretKey = input.secretKey;
  if (secretKey !== undefined && production && DUMMY_SECRET.test(secretKey)) {
    problems.push("TURNSTILE_SECRET_KEY: Cloudflare's test secret must not be used in production");
  }
  const siteKey = input.siteKey?.trim() || null;
  if (siteKey !== null && !SITE_KEY.test(siteKey)) problems.push("TURNSTILE_SITE_KEY: must be a Turnstile site key (letters, digits, '_' and '-')");
  if (siteKey !== null && production && DUMMY_SITE_KEY.test(siteKey)) {
    problems.push("TURNSTILE_SITE_KEY: Cloudflare's test site key must not be used in production");
  }
  const scriptUrl = input.scriptUrl?.trim() || CLOUDFLARE_TURNSTILE_SCRIPT_URL;
  problems.push(...scriptUrlProblems(scriptUrl, production));
  if (!secretKey || problems.length > 0) return { settings: undefined, problems };
  return {
    settings: {
      secretKey,
      routes: new Set(routes.filter(isRoute)),
      verifyUrl,
      hostnames: hostnames ? new Set(hostnames) : null,
      timeoutMs: input.timeoutMs ?? DEFAULT_TURNSTILE_TIMEOUT_MS,
      siteKey,
      scriptUrl,
    },
    problems,
  };
}

/**
 * `TURNSTILE_SCRIPT_URL`'s problems: production accepts only Cloudflare's script (a page loading
 * the widget from elsewhere would run someone else's code under the page's CSP); development
 * accepts any http(s) URL (the tests' stand-in), never one with credentials, a query or a fragment.
 */
function scriptUrlProblems(scriptUrl: string, production: boolean): string[] {
  if (production) {
    return scriptUrl === CLOUDFLARE_TURNSTILE_SCRIPT_URL ? [] : [`TURNSTILE_SCRIPT_URL: production loads only Cloudflare's ${CLOUDFLARE_TURNSTILE_SCRIPT_URL}`];
  }
  let url: URL;
  try {
    url = new URL(scriptUrl);
  } catch {
    return ["TURNSTILE_SCRIPT_URL: must be a URL"];
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return ["TURNSTILE_SCRIPT_URL: must be http or https"];
  if (url.username || url.password || url.search || url.hash) return ["TURNSTILE_SCRIPT_URL: must carry no credentials, query or fragment"];
  return [];
}
