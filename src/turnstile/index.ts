/**
 * Bot protection with Cloudflare Turnstile (API.md §17): a token from the widget is checked with
 * siteverify before a protected route does any work. The request is Cloudflare's documented one: a
 * form POST of `secret`, `response` (the token), `remoteip` (the caller's CF-Connecting-IP) and
 * `idempotency_key` (a fresh UUID per check). The answer is `{ success, challenge_ts, hostname,
 * "error-codes", action, cdata }`.
 *
 * Outcomes:
 * - no token, one over 2,048 characters (Turnstile's maximum), or siteverify's `success: false` for
 *   the token (`invalid-input-response`, `timeout-or-duplicate`: forged, spent or expired, and any
 *   code not listed below): 403 `captcha_required`, siteverify not called for the first two;
 * - `success: true` on a host outside `TURNSTILE_HOSTNAMES` (when set): 403 `captcha_required`;
 * - siteverify unreachable, answering 5xx or anything but JSON, silent past `TURNSTILE_TIMEOUT_MS`,
 *   or blaming the service's own request (`missing-input-secret`, `invalid-input-secret`,
 *   `invalid-parsed-secret`, `invalid-widget-id`, `bad-request`, `internal-error`): 503
 *   `unavailable` (fail closed), logged without the token or the secret.
 *
 * A network failure or 5xx is retried once within the same deadline, with the same
 * idempotency_key: siteverify spends a token at its first check, so if that check's answer was
 * lost, only the key lets the retry learn the verdict instead of `timeout-or-duplicate`.
 *
 * @example
 * import { requireTurnstile } from "./index";
 * await requireTurnstile(deps, deps.config.turnstile!, request.headers.get("cf-turnstile-response"), "guest");
 * // returns when the token passed; throws AuthError("captcha_required" | "unavailable") otherwise
 */
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { log } from "../http/log";
import type { TurnstileRoute, TurnstileSettings } from "./settings";

export type { TurnstileRoute, TurnstileSettings } from "./settings";

/** Turnstile tokens are at most this long (Cloudflare's documentation). */
export const MAX_TOKEN_LENGTH = 2048;

/** Error codes that blame the service's request or Cloudflare, not the caller's token. */
const SERVICE_FAULTS: ReadonlySet<string> = new Set([
  "missing-input-secret",
  "invalid-input-secret",
  "invalid-parsed-secret",
  "invalid-widget-id",
  "bad-request",
  "internal-error",
]);

/** What siteverify answers (the fields read here). */
export interface SiteverifyAnswer {
  success: boolean;
  "error-codes"?: string[];
  /** ISO 8601: when the challenge was solved. */
  challenge_ts?: string;
  /** The host name of the page the widget ran on. */
  hostname?: string;
  action?: string;
  cdata?: string;
}

/** Seconds a client is asked to wait after a 503. */
const RETRY_AFTER_SECONDS = 5;

const refused = () => new AuthError("captcha_required", "The Turnstile token is missing, refused, spent or expired; solve the widget again");
const unavailable = () => new AuthError("unavailable", "The bot check could not be completed; try again shortly", undefined, RETRY_AFTER_SECONDS);

class SiteverifyFault extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "SiteverifyFault";
  }
}

/**
 * One siteverify exchange under `signal`: the parsed answer, or SiteverifyFault (retryable: true
 * for a network failure or a 5xx).
 */
async function ask(settings: TurnstileSettings, form: URLSearchParams, signal: AbortSignal): Promise<{ answer?: SiteverifyAnswer; retryable?: string }> {
  let response: Response;
  try {
    response = await fetch(settings.verifyUrl, { method: "POST", body: form, signal, headers: { accept: "application/json" } });
  } catch (error) {
    if (signal.aborted) throw new SiteverifyFault("timeout");
    return { retryable: `network: ${error instanceof Error ? error.name : "error"}` };
  }
  if (response.status >= 500) {
    await response.body?.cancel().catch(() => undefined);
    return { retryable: `status ${response.status}` };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new SiteverifyFault(signal.aborted ? "timeout" : `status ${response.status}, not JSON`);
  }
  if (!response.ok || typeof body !== "object" || body === null || typeof (body as SiteverifyAnswer).success !== "boolean") {
    throw new SiteverifyFault(`status ${response.status}, unexpected answer`);
  }
  return { answer: body as SiteverifyAnswer };
}

/** Siteverify's verdict on `token`, with one retry (same idempotency key) after a transient fault. */
async function siteverify(settings: TurnstileSettings, token: string, remoteIp: string | null): Promise<SiteverifyAnswer> {
  const form = new URLSearchParams({ secret: settings.secretKey, response: token, idempotency_key: crypto.randomUUID() });
  if (remoteIp) form.set("remoteip", remoteIp);
  const signal = AbortSignal.timeout(settings.timeoutMs);
  let last = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const { answer, retryable } = await ask(settings, form, signal);
    if (answer) return answer;
    last = retryable ?? "unknown";
    if (signal.aborted) break;
  }
  throw new SiteverifyFault(signal.aborted ? "timeout" : last);
}

/**
 * Returns when `token` passes Turnstile for a request to `route`; throws AuthError 403
 * `captcha_required` or 503 `unavailable` otherwise (see the module comment).
 */
export async function requireTurnstile(deps: Deps, settings: TurnstileSettings, token: string | null | undefined, route: TurnstileRoute): Promise<void> {
  if (!token || token.length > MAX_TOKEN_LENGTH) {
    log("info", "turnstile.refused", { requestId: deps.requestId, route, reason: token ? "too-long" : "missing" });
    throw refused();
  }
  let answer: SiteverifyAnswer;
  try {
    answer = await siteverify(settings, token, deps.client.ipAddress);
  } catch (error) {
    if (!(error instanceof SiteverifyFault)) throw error;
    log("error", "turnstile.unavailable", { requestId: deps.requestId, route, reason: error.reason });
    throw unavailable();
  }
  const codes = Array.isArray(answer["error-codes"]) ? answer["error-codes"].filter((c) => typeof c === "string").slice(0, 10) : [];
  if (!answer.success) {
    if (codes.some((code) => SERVICE_FAULTS.has(code))) {
      log("error", "turnstile.unavailable", { requestId: deps.requestId, route, reason: "siteverify refused the service's request", errorCodes: codes });
      throw unavailable();
    }
    log("info", "turnstile.refused", { requestId: deps.requestId, route, reason: "siteverify", errorCodes: codes });
    throw refused();
  }
  const hostname = typeof answer.hostname === "string" ? answer.hostname.toLowerCase() : "";
  if (settings.hostnames && !settings.hostnames.has(hostname)) {
    log("warn", "turnstile.refused", { requestId: deps.requestId, route, reason: "hostname", hostname: hostname.slice(0, 253) });
    throw refused();
  }
}
