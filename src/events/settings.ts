/**
 * The webhook endpoints of `WEBHOOKS` (API.md §16), parsed and checked once at start by src/config:
 * JSON, endpoint name → `{ url, events? }`; each endpoint's signing secret is the secret
 * `WEBHOOK_SECRET_<NAME>` (name upper-cased, `-` as `_`), `whsec_` and the base64 of at least 24
 * random bytes (the Standard Webhooks form). In production every URL must be https. A missing or
 * malformed secret, an unknown event type, or a bad URL is a start-up problem (503 and a log line
 * naming the setting, never the secret's value).
 *
 * @example
 * const { endpoints, problems } = parseWebhooks({ app: { url: "https://app.example.com/hooks" } }, env, true);
 * endpoints[0]?.secretName; // "WEBHOOK_SECRET_APP"
 */
import { z } from "zod";

/** Every event type API.md §16 lists. */
export const EVENT_TYPES = ["user.created", "user.upgraded", "user.updated", "user.disabled", "user.enabled", "user.deleted", "user.merged"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Endpoint names: letters, digits, `_` and `-` (they become `WEBHOOK_SECRET_<NAME>`). */
export const ENDPOINT_NAME = /^[A-Za-z0-9_-]{1,40}$/;

/** The default of `WEBHOOK_RETRY_DELAYS_SECONDS` (API.md §16). */
export const DEFAULT_RETRY_DELAYS_SECONDS = [30, 120, 600, 3600, 21600, 43200];
/** The longest delay a Cloudflare Queue message may be retried after (12 hours). */
export const MAX_RETRY_DELAY_SECONDS = 43_200;

const EndpointInput = z.object({ url: z.url(), events: z.array(z.enum(EVENT_TYPES)).min(1).optional() }).strict();

/** One endpoint, ready to deliver to. `secret` holds the decoded key bytes (never logged). */
export interface WebhookEndpoint {
  name: string;
  url: string;
  /** The types it receives; null: every type. */
  events: ReadonlySet<EventType> | null;
  secretName: string;
  secret: Uint8Array;
}

export const webhookSecretName = (name: string) => `WEBHOOK_SECRET_${name.toUpperCase().replaceAll("-", "_")}`;

/** `whsec_<base64>` → its key bytes, or null when it is not that form or holds fewer than 24 bytes. */
export function decodeWebhookSecret(value: string): Uint8Array | null {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!match) return null;
  try {
    const bytes = Uint8Array.from(atob(match[1]!), (c) => c.charCodeAt(0));
    return bytes.length >= 24 ? bytes : null;
  } catch {
    return null;
  }
}

/**
 * Checks every endpoint; `env` supplies the secrets. Returns the usable endpoints and the problems
 * (empty when all is well), each naming the setting at fault.
 */
export function parseWebhooks(raw: Record<string, unknown>, env: object, production: boolean): { endpoints: WebhookEndpoint[]; problems: string[] } {
  const endpoints: WebhookEndpoint[] = [];
  const problems: string[] = [];
  const secrets = env as Record<string, unknown>;
  for (const [name, value] of Object.entries(raw)) {
    if (!ENDPOINT_NAME.test(name)) {
      problems.push(`WEBHOOKS: endpoint name "${name.slice(0, 40)}" must be letters, digits, _ or -`);
      continue;
    }
    const parsed = EndpointInput.safeParse(value);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((i) => `WEBHOOKS.${name}${i.path.length ? `.${i.path.join(".")}` : ""}: ${i.message}`));
      continue;
    }
    const url = new URL(parsed.data.url);
    if (production && url.protocol !== "https:") problems.push(`WEBHOOKS.${name}.url: must be https in production`);
    if (url.protocol !== "https:" && url.protocol !== "http:") problems.push(`WEBHOOKS.${name}.url: must be http(s)`);
    const secretName = webhookSecretName(name);
    const secretValue = secrets[secretName];
    const secret = typeof secretValue === "string" ? decodeWebhookSecret(secretValue) : null;
    if (!secret) {
      problems.push(`${secretName}: required by WEBHOOKS.${name}, as whsec_ and the base64 of at least 24 random bytes`);
      continue;
    }
    endpoints.push({ name, url: url.href, events: parsed.data.events ? new Set(parsed.data.events) : null, secretName, secret });
  }
  return { endpoints, problems };
}

/** The endpoints that receive events of `type`. */
export const endpointsFor = (endpoints: readonly WebhookEndpoint[], type: string) =>
  endpoints.filter((e) => e.events === null || e.events.has(type as EventType));
