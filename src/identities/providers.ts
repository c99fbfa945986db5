/**
 * The OpenID providers of `OIDC_PROVIDERS` (API.md §13): parsed and checked once at start (by
 * src/config), with the built-in `apple` and `google` presets filled in.
 *
 * A provider is `{ clientIds, issuer?, scopes?, teamId?, keyId? }`; `apple` and `google` know their
 * issuer and endpoints, any other name needs `issuer` and is found by OpenID discovery. Each preset
 * endpoint may be overridden (`issuer`, `authorizationEndpoint`, `tokenEndpoint`, `jwksUri`), which
 * lets the tests point the presets at a loopback provider; in production every URL must be https.
 *
 * @example
 * const { providers, problems } = parseProviders({ google: { clientIds: ["123.apps.googleusercontent.com"] } }, true);
 * providers.google?.issuer; // "https://accounts.google.com"
 */
import { z } from "zod";

/** Provider names: lower-case letters, digits and `-` (they become `OIDC_SECRET_<NAME>`). */
export const PROVIDER_NAME = /^[a-z0-9-]{1,40}$/;

const ProviderInput = z
  .object({
    clientIds: z.array(z.string().min(1)).min(1),
    issuer: z.url().optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).min(1).optional(),
    /** Apple: the team id and key id of the client-secret JWT signed from OIDC_SECRET_APPLE. */
    teamId: z.string().min(1).optional(),
    keyId: z.string().min(1).optional(),
    /** Endpoint overrides (tests; a preset behind a proxy). Without them discovery or the preset decides. */
    authorizationEndpoint: z.url().optional(),
    tokenEndpoint: z.url().optional(),
    jwksUri: z.url().optional(),
  })
  .strict();

/** Known endpoints of a provider; a provider without them is found by discovery. */
export interface ProviderEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** ID token signature algorithms it uses. */
  algorithms: string[];
}

export interface Provider {
  name: string;
  clientIds: string[];
  /** The exact `iss` of its ID tokens. */
  issuer: string;
  /** More `iss` values it is known to use (Google's bare host name). */
  issuerAliases: string[];
  scopes: string[];
  kind: "apple" | "google" | "oidc";
  teamId: string | undefined;
  keyId: string | undefined;
  /** Static endpoints (presets, or overrides); undefined → OpenID discovery. */
  endpoints: ProviderEndpoints | undefined;
  /** The name of the secret holding the web flow's client secret (Apple: its private key). */
  secretName: string;
}

interface Preset {
  issuer: string;
  issuerAliases: string[];
  scopes: string[];
  endpoints: ProviderEndpoints;
}

const PRESETS: Record<"apple" | "google", Preset> = {
  apple: {
    issuer: "https://appleid.apple.com",
    issuerAliases: [],
    // Apple's own scope names; it answers the code flow with an ID token whatever they are.
    scopes: ["name", "email"],
    endpoints: {
      authorizationEndpoint: "https://appleid.apple.com/auth/authorize",
      tokenEndpoint: "https://appleid.apple.com/auth/token",
      jwksUri: "https://appleid.apple.com/auth/keys",
      algorithms: ["RS256"],
    },
  },
  google: {
    issuer: "https://accounts.google.com",
    issuerAliases: ["accounts.google.com"],
    scopes: ["openid", "email"],
    endpoints: {
      authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
      tokenEndpoint: "https://oauth2.googleapis.com/token",
      jwksUri: "https://www.googleapis.com/oauth2/v3/certs",
      algorithms: ["RS256"],
    },
  },
};

/** `OIDC_SECRET_<NAME>`: the name upper-cased, `-` as `_`. */
export const secretName = (name: string) => `OIDC_SECRET_${name.toUpperCase().replaceAll("-", "_")}`;

/**
 * Checks every provider of the raw setting; `problems` lists what is wrong (config refuses to start
 * then). `production` demands https for every issuer and endpoint.
 */
export function parseProviders(raw: Record<string, unknown>, production: boolean): { providers: Record<string, Provider>; problems: string[] } {
  const providers: Record<string, Provider> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const where = `OIDC_PROVIDERS.${name}`;
    if (!PROVIDER_NAME.test(name)) {
      problems.push(`${where}: the name must be lower-case letters, digits or -`);
      continue;
    }
    const parsed = ProviderInput.safeParse(value);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((i) => `${where}.${i.path.join(".") || "value"}: ${i.message}`));
      continue;
    }
    const input = parsed.data;
    const kind = name === "apple" || name === "google" ? name : "oidc";
    const preset = kind === "oidc" ? undefined : PRESETS[kind];
    const issuer = input.issuer ?? preset?.issuer;
    if (!issuer) {
      problems.push(`${where}.issuer: required for a provider that is not built in`);
      continue;
    }
    const overrides = [input.authorizationEndpoint, input.tokenEndpoint, input.jwksUri];
    let endpoints = preset?.endpoints;
    if (overrides.some((o) => o !== undefined)) {
      if (overrides.some((o) => o === undefined)) {
        problems.push(`${where}: authorizationEndpoint, tokenEndpoint and jwksUri are overridden together`);
        continue;
      }
      endpoints = { authorizationEndpoint: input.authorizationEndpoint!, tokenEndpoint: input.tokenEndpoint!, jwksUri: input.jwksUri!, algorithms: preset?.endpoints.algorithms ?? ["RS256"] };
    }
    if (production) {
      for (const url of [issuer, ...overrides]) {
        if (url !== undefined && !url.startsWith("https://")) problems.push(`${where}: ${url} must be https in production`);
      }
    }
    if ((input.teamId === undefined) !== (input.keyId === undefined)) problems.push(`${where}: teamId and keyId go together`);
    providers[name] = {
      name,
      clientIds: input.clientIds,
      issuer,
      // An overridden issuer is the only one accepted.
      issuerAliases: input.issuer === undefined ? (preset?.issuerAliases ?? []) : [],
      scopes: input.scopes ?? preset?.scopes ?? ["openid", "email"],
      kind,
      teamId: input.teamId,
      keyId: input.keyId,
      endpoints,
      secretName: secretName(name),
    };
  }
  return { providers, problems };
}

/** The configured provider called `name`, or undefined (never an inherited property). */
export function findProvider(providers: Record<string, Provider>, name: string): Provider | undefined {
  return Object.hasOwn(providers, name) ? providers[name] : undefined;
}
