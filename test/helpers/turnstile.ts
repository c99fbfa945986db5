/**
 * Turnstile in tests (API.md §17): the siteverify stand-in of scripts/siteverify-server.mjs, and
 * the real Worker called with Turnstile turned on for one configuration only. Nothing here sets
 * TURNSTILE_SECRET_KEY for the rest of the suite: each configuration is its own environment object
 * (`turnstileEnv`), handed to `worker.fetch` by `sendWith`.
 *
 * @example
 * const on = turnstileEnv({ TURNSTILE_TIMEOUT_MS: "500" });
 * const token = await issueToken();
 * const response = await sendWith(on, "/v1/auth/guest", { body: { turnstileToken: token } });
 * expect((await receivedFor(token))[0].remoteip).toBe(ip);
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { BASE, freshIp } from "./http";

declare module "vitest" {
  export interface ProvidedContext {
    /** scripts/siteverify-server.mjs: its siteverify URL, its base (test endpoints) and the secret it accepts. */
    siteverifyUrl: string;
    siteverifyBase: string;
    siteverifySecret: string;
  }
}

export const siteverifyUrl = inject("siteverifyUrl");
export const siteverifyBase = inject("siteverifyBase");
export const siteverifySecret = inject("siteverifySecret");

/** One siteverify request as the stand-in received it. */
export interface Received {
  contentType: string;
  secretOk: boolean;
  response: string | null;
  remoteip: string | null;
  idempotencyKey: string | null;
  answered: number | null;
}

/** The test environment with Turnstile on against the stand-in, plus `vars`. Build once per configuration. */
export function turnstileEnv(vars: Record<string, string> = {}): Env {
  return {
    ...env,
    TURNSTILE_SECRET_KEY: siteverifySecret,
    TURNSTILE_VERIFY_URL: siteverifyUrl,
    // Generous: the stand-in runs in Vitest's main process, which a full suite keeps busy.
    TURNSTILE_TIMEOUT_MS: "5000",
    ...vars,
  } as unknown as Env;
}

export interface IssueOptions {
  hostname?: string;
  ageSeconds?: number;
  behaviour?: "pass" | "hang" | "error" | "lost-once" | "not-json";
}

/** A token as the widget would hand it out (the stand-in issues it). */
export async function issueToken(options: IssueOptions = {}): Promise<string> {
  const response = await fetch(`${siteverifyBase}/__test/tokens`, { method: "POST", body: JSON.stringify(options) });
  return ((await response.json()) as { token: string }).token;
}

/** Every siteverify request that named `token`, in order. */
export async function receivedFor(token: string): Promise<Received[]> {
  const response = await fetch(`${siteverifyBase}/__test/received?token=${encodeURIComponent(token)}`);
  return ((await response.json()) as { received: Received[] }).received;
}

export interface SendOptions {
  body?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  ip?: string;
  method?: string;
}

/** One request to the real Worker under `environment`, waiting for its after-the-answer work (mail). */
export async function sendWith(environment: Env, path: string, options: SendOptions = {}): Promise<Response> {
  const { default: worker } = await import("../../src");
  const headers = new Headers(options.headers);
  if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", options.ip ?? freshIp());
  let body: BodyInit | undefined;
  if (options.form) body = options.form;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers.set("content-type", "application/json");
  }
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`, { method: options.method ?? "POST", headers, body }), environment, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
