/**
 * Where mailed links may point, and which logo a mail may show (API.md §7). A link goes to the
 * service's own pages unless `baseUrl` is on the configured allow-list (exact origin match, so no
 * look-alike suffix passes) or `clientAlias` names a configured client. A logo must be https on a
 * host with a real top-level domain. Anything else is a 400, so no one can send a victim's token
 * elsewhere.
 *
 * @example
 * import { linkBase } from "./links";
 * linkBase(config, origin, { baseUrl: "https://app.example.com" }); // "https://app.example.com"
 */
import type { Config } from "./config";
import { invalidRequest } from "./errors";

export interface LinkOptions {
  baseUrl?: string | undefined;
  clientAlias?: string | undefined;
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** The service's own origin: PUBLIC_URL when set, else the origin the request came to (dev). */
export function serviceBase(config: Config, origin: string): string {
  return config.publicUrl || origin;
}

export function linkBase(config: Config, origin: string, options: LinkOptions): string {
  if (options.baseUrl !== undefined) {
    const url = parseUrl(options.baseUrl);
    const allowed =
      url &&
      (url.protocol === "https:" || (config.isDevelopment && url.protocol === "http:")) &&
      !url.username && !url.password &&
      config.redirectOrigins.includes(url.origin);
    if (!allowed) throw invalidRequest("baseUrl", "must be an allowed origin");
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  }
  if (options.clientAlias !== undefined) {
    const target = Object.hasOwn(config.clientAliases, options.clientAlias)
      ? config.clientAliases[options.clientAlias]
      : undefined;
    if (!target) throw invalidRequest("clientAlias", "is not a known client");
    return target.replace(/\/+$/, "");
  }
  return serviceBase(config, origin);
}

/** An https URL on a named host with an alphabetic top-level domain; no credentials, no IPs. */
export function checkLogoUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const url = parseUrl(value);
  const host = url?.hostname ?? "";
  const tld = host.split(".").at(-1) ?? "";
  const ok =
    url !== null &&
    url.protocol === "https:" &&
    !url.username && !url.password &&
    host.includes(".") &&
    /^[a-z]{2,63}$/.test(tld) &&
    /^[a-z0-9.-]+$/.test(host) &&
    !host.split(".").some((label) => label === "" || label.startsWith("-") || label.endsWith("-"));
  if (!ok) throw invalidRequest("logoUrl", "must be an https URL with a valid top-level domain");
  return url.href;
}

/** A platform name safe for a subject line: no control characters (no CR/LF header injection). */
export function cleanPlatformName(value: string | undefined, fallback: string): string {
  const cleaned = (value ?? "").replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ").replace(/\s+/g, " ").trim();
  return cleaned.slice(0, 100) || fallback;
}
