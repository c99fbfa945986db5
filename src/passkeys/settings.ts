/**
 * The WebAuthn relying party (API.md §12): its ID, name and the origins whose responses count,
 * derived from PUBLIC_URL when not set, and checked when the configuration is parsed (a bad value
 * stops the service like any other setting).
 *
 * - `WEBAUTHN_RP_ID`: a registrable domain (in production its TLD must be in the root zone) or
 *   `localhost`; never an IP address (WebAuthn refuses them). Default: the host of PUBLIC_URL.
 * - `WEBAUTHN_ORIGINS`: web origins on the RP ID or one of its subdomains (https in production;
 *   http too in development), or `android:apk-key-hash:<base64url>` for Android apps. Default: the
 *   origin of PUBLIC_URL. An app origin is kept without `=` padding: Android sends the hash of the
 *   app's signing certificate as unpadded base64url (the encoding of WebAuthn's client data), and
 *   origins are compared as exact strings, so a padded value could never match.
 *
 * Only values that are set are checked; the defaults derived from PUBLIC_URL are taken as they are.
 *
 * @example
 * const rp = resolveWebauthn({ environment: "production", publicUrl: "https://auth.example.com" });
 * // { rpId: "auth.example.com", origins: ["https://auth.example.com"], problems: [] }
 */
import { isRootZoneTld } from "../mail/tlds";

export interface WebauthnInput {
  environment: "development" | "production";
  publicUrl: string;
  rpId?: string | undefined;
  origins?: string[] | undefined;
}

export interface ResolvedWebauthn {
  rpId: string;
  origins: string[];
  /** Why the settings cannot be used; empty when they can. */
  problems: string[];
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const APK_ORIGIN = /^android:apk-key-hash:[A-Za-z0-9_-]{20,}={0,2}$/;

/** True for `localhost` or a domain name of two or more labels whose TLD is not numeric. */
function isDomain(host: string, production: boolean): boolean {
  if (host === "localhost") return true;
  const labels = host.split(".");
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return false;
  const tld = labels.at(-1)!;
  if (/^\d+$/.test(tld)) return false;
  return !production || isRootZoneTld(tld) || /^xn--[a-z0-9-]{2,59}$/.test(tld);
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
}

/** The effective RP ID and origins, and every problem with them. */
export function resolveWebauthn(input: WebauthnInput): ResolvedWebauthn {
  const production = input.environment === "production";
  const problems: string[] = [];
  const rpId = (input.rpId ?? (input.publicUrl ? hostOf(input.publicUrl) : null) ?? "localhost").toLowerCase();
  // Only what was set is checked: a default derived from PUBLIC_URL (say an IP address in a
  // benchmark) leaves passkeys unusable but must not stop the rest of the service.
  if (input.rpId !== undefined && !isDomain(rpId, production)) {
    problems.push(`WEBAUTHN_RP_ID: "${rpId}" must be a registrable domain${production ? " with a real TLD" : ""} or localhost, not an IP address`);
  }
  if (input.origins === undefined) return { rpId, origins: input.publicUrl ? [new URL(input.publicUrl).origin] : [], problems };
  const origins = input.origins.map((origin) => {
    if (origin.startsWith("android:")) {
      if (!APK_ORIGIN.test(origin)) {
        problems.push(`WEBAUTHN_ORIGINS: "${origin}" is not an android:apk-key-hash: origin (the base64url SHA-256 of the app's signing certificate)`);
        return origin;
      }
      return origin.replace(/=+$/, "");
    }
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      problems.push(`WEBAUTHN_ORIGINS: "${origin}" is not a URL`);
      return origin;
    }
    const secure = url.protocol === "https:" || (!production && url.protocol === "http:");
    if (!secure) problems.push(`WEBAUTHN_ORIGINS: "${origin}" must be https${production ? "" : " (or http in development)"}`);
    const host = url.hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) problems.push(`WEBAUTHN_ORIGINS: "${origin}" is not on the RP ID ${rpId} or a subdomain of it`);
    return url.origin;
  });
  return { rpId, origins, problems };
}
