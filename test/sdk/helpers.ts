/**
 * Helpers of the `sdk` project (Node, not workerd): the real service and the consumer Worker that
 * scripts/sdk-test-service.mjs started, a fetch wrapper that gives each client its own address (so
 * the real per-IP limiter never couples tests), records every request and can answer some of them
 * itself (a network failure, a 503, a 429) before they reach the service, and the dev outbox.
 *
 * @example
 * const net = network();
 * const auth = createClient({ baseUrl: serviceUrl, fetch: net.fetch });
 * net.failNext("/v1/auth/refresh", () => new Response(null, { status: 503 }));
 * expect(net.count("/v1/auth/refresh")).toBe(1);
 */
import { expect, inject } from "vitest";
import { createClient } from "../../sdk/client";
import type { ClientOptions } from "../../sdk/client";

declare module "vitest" {
  export interface ProvidedContext {
    sdkServiceUrl: string;
    sdkConsumerUrl: string;
    /** Private JWKs: the service's signing key and the previous (rotated, still published) one. */
    sdkKeys: { signing: JsonWebKey & { kid: string }; previous: JsonWebKey & { kid: string } };
  }
}

export const serviceUrl = inject("sdkServiceUrl");
export const consumerUrl = inject("sdkConsumerUrl");
export const keys = inject("sdkKeys");
export const PASSWORD = "violet-harbor-lantern-42";
export const NEW_PASSWORD = "quiet-meadow-copper-77";

let counter = Math.floor(Math.random() * 60_000);
/** A fresh client address, so the real per-IP rate limiter never couples tests. */
export const freshIp = () => {
  counter += 1;
  return `10.251.${(counter >> 8) & 255}.${counter & 255}`;
};

type Fault = () => Response | Error;

export interface Network {
  fetch: NonNullable<ClientOptions["fetch"]>;
  /** Every request sent, as "METHOD pathname", with the time it was sent (ms). */
  requests: { line: string; at: number; authorization: string | null }[];
  count(path: string): number;
  /** The next request to `path` gets `fault` instead of reaching the service (an Error = network failure). */
  failNext(path: string, fault: Fault): void;
  /** Every request fails as if offline, until `online()`. */
  offline(): void;
  online(): void;
  /** The next request to `path` reaches the service, but its answer waits until `release()`. */
  hold(path: string): { release(): void };
}

/** One client's network: its own IP, a log, and injectable failures. */
export function network(): Network {
  const ip = freshIp();
  const faults = new Map<string, Fault[]>();
  const holds = new Map<string, Promise<void>>();
  let down = false;
  const requests: Network["requests"] = [];
  return {
    requests,
    count: (path) => requests.filter((r) => r.line.endsWith(` ${path}`)).length,
    failNext(path, fault) {
      faults.set(path, [...(faults.get(path) ?? []), fault]);
    },
    hold(path) {
      let release = () => {};
      holds.set(path, new Promise<void>((resolve) => (release = resolve)));
      return { release: () => release() };
    },
    offline: () => void (down = true),
    online: () => void (down = false),
    async fetch(input, init) {
      const request = new Request(input, init);
      const path = new URL(request.url).pathname;
      requests.push({ line: `${request.method} ${path}`, at: Date.now(), authorization: request.headers.get("authorization") });
      if (down) throw new TypeError("fetch failed (offline)");
      const fault = faults.get(path)?.shift();
      if (fault) {
        const answer = fault();
        if (answer instanceof Error) throw answer;
        return answer;
      }
      const headers = new Headers(request.headers);
      headers.set("cf-connecting-ip", ip);
      const answer = await fetch(new Request(request, { headers }));
      const held = holds.get(path);
      if (held) {
        holds.delete(path);
        await held;
      }
      return answer;
    },
  };
}

/** A client on its own network (see `network`). */
export function client(options: Partial<ClientOptions> = {}) {
  const net = network();
  const auth = createClient({ baseUrl: serviceUrl, fetch: net.fetch, ...options });
  return { auth, net };
}

export const uniqueEmail = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;

/** The newest mailed link to `page` for `to` (dev outbox), waiting for the `count`-th mail. */
export async function mailedToken(
  to: string,
  page: "/reset-password" | "/verify-email" | "/confirm-email-change" | "/delete-account",
  count = 1,
): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${serviceUrl}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = (await response.json()) as { messages: { text: string }[] };
    const link = messages.length >= count ? messages[0]?.text.match(new RegExp(`https?://\\S+${page}\\?\\S+`))?.[0] : undefined;
    const token = link ? new URL(link).searchParams.get("token") : null;
    if (token) return token;
    if (Date.now() > deadline) throw new Error(`no ${page} link mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A registered and verified account, signed in through a client. */
export async function signedInUser(label: string, options: Partial<ClientOptions> = {}) {
  const { auth, net } = client(options);
  const email = uniqueEmail(label);
  const registered = await auth.register({ email, password: PASSWORD });
  expect(registered.verificationRequired).toBe(true);
  await auth.verifyEmail({ token: await mailedToken(email, "/verify-email") });
  await auth.login({ email, password: PASSWORD });
  return { auth, net, email };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every mail in the dev outbox for `to`, newest first. */
export async function mailbox(to: string): Promise<{ subject: string; text: string }[]> {
  const response = await fetch(`${serviceUrl}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
  return ((await response.json()) as { messages: { subject: string; text: string }[] }).messages;
}
