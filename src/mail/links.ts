/**
 * Where mailed links may point, and which logo a mail may show (API.md §7). A link goes to the
 * service's own pages unless `baseUrl` is on the configured allow-list (exact origin match, so no
 * look-alike suffix passes) or `clientAlias` names a configured client. A logo must be https on a
 * host with a real top-level domain. Anything else is a 400, so no one can send a victim's token
 * elsewhere or make our mail load an image from an internal address.
 *
 * @example
 * import { linkBase, pageLink } from "./links";
 * const base = linkBase(config, origin, { baseUrl: "https://app.example.com" }); // "https://app.example.com"
 * pageLink(base, "/reset-password", { token, email }); // "https://app.example.com/reset-password?token=…&email=…"
 */
import type { Config } from "../config";
import { invalidRequest } from "../http/errors";
import { isRootZoneTld } from "./tlds";

export interface LinkOptions {
  baseUrl?: string | undefined;
  clientAlias?: string | undefined;
}

/** The two pages a mailed link opens; the service serves both itself (src/pages/index.ts). */
export type LinkPage = "/reset-password" | "/verify-email";

/**
 * Names that look like top-level domains but never resolve on the public internet (RFC 2606,
 * RFC 6761, RFC 6762, RFC 7686, ICANN's ".internal"), plus common private-network suffixes.
 */
const RESERVED_TLDS = new Set([
  "localhost", "local", "test", "example", "invalid", "internal", "onion", "arpa",
  "lan", "home", "corp", "intranet", "localdomain",
]);

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

const withoutTrailingSlash = (value: string) => value.replace(/\/+$/, "");

/** The service's own origin: PUBLIC_URL when set, else the origin the request came to (dev only). */
export function serviceBase(config: Config, origin: string): string {
  return config.publicUrl || origin;
}

/**
 * The base of a mailed link. Each option is checked on its own (an unknown alias is a 400 even
 * beside a valid baseUrl), then `baseUrl` wins over `clientAlias`, which wins over our own pages.
 */
export function linkBase(config: Config, origin: string, options: LinkOptions): string {
  const alias = options.clientAlias === undefined ? undefined : aliasBase(config, options.clientAlias);
  if (options.baseUrl !== undefined) return allowedBase(config, options.baseUrl);
  return alias ?? serviceBase(config, origin);
}

function allowedBase(config: Config, value: string): string {
  const url = parseUrl(value.trim());
  const allowed =
    url !== null &&
    (url.protocol === "https:" || (config.isDevelopment && url.protocol === "http:")) &&
    !url.username &&
    !url.password &&
    config.redirectOrigins.includes(url.origin);
  if (!allowed) throw invalidRequest("baseUrl", "must be on an allowed origin");
  // Query and fragment are dropped: the link adds its own query, and nothing else may ride along.
  return withoutTrailingSlash(`${url.origin}${url.pathname}`);
}

function aliasBase(config: Config, alias: string): string {
  // Object.hasOwn, so "__proto__" or "toString" never resolve to something inherited.
  const target = Object.hasOwn(config.clientAliases, alias) ? config.clientAliases[alias] : undefined;
  if (!target) throw invalidRequest("clientAlias", "is not a known client");
  return withoutTrailingSlash(target);
}

/** `${base}${page}?token=…&email=…`, every value URL-encoded. */
export function pageLink(base: string, page: LinkPage, params: { token: string; email: string }): string {
  return `${base}${page}?${new URLSearchParams(params)}`;
}

/** True for a host name whose last label is a TLD of the root zone (or, by its shape, an IDN "xn--"). */
function hasPublicTld(host: string): boolean {
  const labels = host.split(".");
  if (labels.length < 2) return false;
  const validLabel = (label: string) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label);
  if (!labels.every(validLabel)) return false;
  const tld = labels.at(-1)!;
  return (isRootZoneTld(tld) || /^xn--[a-z0-9-]{2,59}$/.test(tld)) && !RESERVED_TLDS.has(tld);
}

/**
 * An https URL on a named host with a public top-level domain: no credentials, no IP addresses
 * (the URL parser turns "0x7f.1" and "2130706433" into "127.0.0.1", which then fails the TLD test).
 */
export function checkLogoUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const url = parseUrl(value.trim());
  const ok = url !== null && url.protocol === "https:" && !url.username && !url.password && hasPublicTld(url.hostname);
  if (!ok) throw invalidRequest("logoUrl", "must be an https URL on a host with a valid top-level domain");
  return url.href;
}

/** A platform name safe for a subject line: no control or line-separator characters, at most 100. */
export function cleanPlatformName(value: string | undefined, fallback: string): string {
  const cleaned = (value ?? "")
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return [...cleaned].slice(0, 100).join("") || fallback;
}
