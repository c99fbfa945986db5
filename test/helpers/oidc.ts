/**
 * The loopback OpenID Providers of scripts/oidc-provider-server.mjs, from inside workerd: minting
 * ID tokens with the provider's own published key (the native flow), and driving the web code flow
 * end to end with a plain HTTP client that follows redirects by hand (`redirect: "manual"`),
 * carries the provider's cookies, fills in its login form, and submits Apple's form_post page.
 *
 * @example
 * const idToken = await mintIdToken({ sub: "alice", email, email_verified: true });
 * const landed = await codeFlow({ provider: "loopback", account: { sub: "alice" } });
 * landed.searchParams.get("code");
 */
import { exports } from "cloudflare:workers";
import * as jose from "jose";
import { expect, inject } from "vitest";
import { BASE, freshIp } from "./http";
import "./oidc-provided";

export const oidc = inject("oidc");
export const APP_REDIRECT = "https://app.example.com/signed-in";

/** The provider's current private signing key (its jwks_uri publishes the public half). */
export async function providerKey(issuer = oidc.issuer): Promise<jose.JWK & { kid: string }> {
  const response = await fetch(`${issuer}/_test/signing-key`);
  return ((await response.json()) as { key: jose.JWK & { kid: string } }).key;
}

export interface MintOptions {
  issuer?: string;
  /** Signs with this key instead of the provider's. */
  key?: jose.JWK & { kid: string };
  header?: Record<string, unknown>;
}

/** An RS256 ID token signed by the provider's key; `claims` override the defaults (undefined removes one). */
export async function mintIdToken(claims: Record<string, unknown> = {}, options: MintOptions = {}): Promise<string> {
  const issuer = options.issuer ?? oidc.issuer;
  const jwk = options.key ?? (await providerKey(issuer));
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iss: issuer, aud: oidc.clients.native.id, sub: `sub-${crypto.randomUUID()}`, iat: now, exp: now + 600, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "JWT", ...options.header } as jose.JWTHeaderParameters)
    .sign(await jose.importJWK(jwk, "RS256"));
}

/** POST /v1/auth/id-token. */
export function idTokenSignIn(body: Record<string, unknown>, token?: string): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": freshIp() };
  if (token) headers.authorization = `Bearer ${token}`;
  return exports.default.fetch(new Request(`${BASE}/v1/auth/id-token`, { method: "POST", headers, body: JSON.stringify({ provider: "loopback", ...body }) }));
}

/** A minimal cookie jar for the provider's origin (the flow's cookies are all host-only). */
class CookieJar {
  readonly #cookies = new Map<string, string>();
  store(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

export interface FlowAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
}

export interface CodeFlowOptions {
  provider?: string;
  account: FlowAccount;
  redirectUri?: string;
  state?: string;
  /** Apple's first-time `user` field, added to the form_post. */
  appleUser?: string;
  /** Every URL the flow visited, in order (for asserting no token travels in one). */
  visited?: string[];
}

/** One request: to the Worker for its own URLs, to the network (with the jar) otherwise. */
async function send(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  if (url.startsWith(`${BASE}/`)) {
    const headers = new Headers(init.headers);
    headers.set("cf-connecting-ip", freshIp());
    return exports.default.fetch(new Request(url, { ...init, headers, redirect: "manual" }));
  }
  const headers = new Headers(init.headers);
  const cookie = jar.header();
  if (cookie) headers.set("cookie", cookie);
  const response = await fetch(url, { ...init, headers, redirect: "manual" });
  jar.store(response);
  return response;
}

/** The first form of an HTML page: its action and its inputs (for Apple's form_post page). */
function firstForm(html: string): { action: string; fields: URLSearchParams } | null {
  const form = html.match(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i);
  if (!form) return null;
  const fields = new URLSearchParams();
  for (const input of form[2]!.matchAll(/<input[^>]*>/gi)) {
    const name = input[0].match(/name="([^"]*)"/)?.[1];
    const value = input[0].match(/value="([^"]*)"/)?.[1] ?? "";
    if (name) fields.set(name, value.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&").replace(/&quot;/g, '"'));
  }
  return { action: form[1]!.replace(/&amp;/g, "&"), fields };
}

/**
 * Runs the web sign-in from /authorize to the app's redirect_uri and returns that final URL
 * (`?code=…&state=…` or `?error=…`), following every redirect by hand.
 */
export async function codeFlow(options: CodeFlowOptions): Promise<URL> {
  const jar = new CookieJar();
  const redirectUri = options.redirectUri ?? APP_REDIRECT;
  const query = new URLSearchParams({ redirect_uri: redirectUri, ...(options.state ? { state: options.state } : {}) });
  let url = `${BASE}/v1/auth/oauth/${options.provider ?? "loopback"}/authorize?${query}`;
  let init: RequestInit = {};
  for (let hop = 0; hop < 20; hop++) {
    options.visited?.push(url);
    if (url.startsWith(new URL(redirectUri).origin + "/")) return new URL(url);
    const response = await send(jar, url, init);
    init = {};
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url).href;
      continue;
    }
    const html = await response.text();
    expect(response.status, `${url}: ${html.slice(0, 300)}`).toBe(200);
    if (/\/interaction\/[\w-]+$/.test(new URL(url).pathname)) {
      // The provider's login page: the test plays the user.
      const account = options.account;
      const fields = new URLSearchParams({ sub: account.sub, ...(account.email ? { email: account.email } : {}), ...(account.email_verified ? { email_verified: "true" } : {}) });
      url = `${url}/login`;
      init = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: fields.toString() };
      continue;
    }
    const form = firstForm(html);
    if (!form) throw new Error(`stuck at ${url}: ${html.slice(0, 300)}`);
    // form_post: what the page's script would submit.
    if (options.appleUser) form.fields.set("user", options.appleUser);
    url = new URL(form.action, url).href;
    init = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form.fields.toString() };
  }
  throw new Error("too many redirects");
}

/** Runs the code flow and exchanges our one-time code; returns the token answer. */
export async function codeFlowSignIn(options: CodeFlowOptions & { token?: string }): Promise<Response> {
  const landed = await codeFlow(options);
  const code = landed.searchParams.get("code");
  expect(code, landed.href).toBeTruthy();
  const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": freshIp() };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return exports.default.fetch(new Request(`${BASE}/v1/auth/oauth/token`, { method: "POST", headers, body: JSON.stringify({ code }) }));
}
