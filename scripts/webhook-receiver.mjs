/**
 * Vitest globalSetup of the workers project (runs in Node, so plain JavaScript): a real webhook
 * receiver on 127.0.0.1 that checks every attempt with the `standardwebhooks` package (the Standard
 * Webhooks project's own library; no one here wrote it) and records what arrived, for the tests of
 * src/events (API.md §16).
 *
 * Endpoints (named in the Worker's WEBHOOKS binding by `prepareWebhookTest()`, which vitest.config.ts
 * calls before any globalSetup runs, because the bindings must name the port):
 * - `app` at /hooks/app: every event type;
 * - `deletions` at /hooks/deletions: `user.deleted` only.
 * Each answers 200 unless a rule says otherwise: `POST /rules { match, status, times? }` makes the
 * next `times` attempts (every one when left out) whose body contains `match` answer `status`.
 * `GET /received?match=<text>` lists the attempts whose body contains the text, oldest first:
 * `{ endpoint, headers, raw, body, verified, error, status, at }` (`verified`: standardwebhooks accepted
 * the signature and timestamp; `status`: what the receiver answered).
 *
 * @example
 * // vitest.config.ts
 * const webhooks = await prepareWebhookTest(); // { bindings }
 * miniflare.bindings = { ...webhooks.bindings }; test.globalSetup = ["./scripts/webhook-receiver.mjs"];
 * // a test
 * const { url } = inject("webhooks"); await fetch(`${url}/received?match=${userId}`);
 */
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { freePort, listenLoopback, readBody, replier } from "./loopback-server.mjs";

const secret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** Picks the port and the endpoints' secrets; returns the Worker's bindings. */
export async function prepareWebhookTest() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const secrets = { app: secret(), deletions: secret() };
  process.env.WEBHOOK_TEST_SETUP = JSON.stringify({ port, url, secrets });
  return {
    bindings: {
      WEBHOOKS: JSON.stringify({ app: { url: `${url}/hooks/app` }, deletions: { url: `${url}/hooks/deletions`, events: ["user.deleted"] } }),
      WEBHOOK_SECRET_APP: secrets.app,
      WEBHOOK_SECRET_DELETIONS: secrets.deletions,
      // Short, so the retry tests run in seconds; their order still tells one delay from another.
      WEBHOOK_RETRY_DELAYS_SECONDS: "1,2,1",
    },
  };
}

/**
 * Starts a receiver on 127.0.0.1 for the endpoints named in `secrets` (`/hooks/<name>`), checking
 * every attempt with `standardwebhooks`, plus its two control routes (`POST /rules`,
 * `GET /received`, as above). A verified attempt no rule matches answers `defaultStatus`; an
 * unverified one answers 400.
 *
 * @param {{ port?: number, secrets: Record<string, string>, defaultStatus?: number }} options
 *   `port` 0 or left out: the system picks one, held from this call on (no window in which another
 *   process can take it)
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 * @example
 * const receiver = await startWebhookReceiver({ secrets: { console: "whsec_..." }, defaultStatus: 503 });
 * // WEBHOOKS={"console":{"url":"${receiver.url}/hooks/console"}}; later: await receiver.close();
 */
export async function startWebhookReceiver({ port = 0, secrets, defaultStatus = 200 }) {
  const verifiers = Object.fromEntries(Object.entries(secrets).map(([name, value]) => [name, new Webhook(value)]));
  /** @type {{ endpoint: string, headers: Record<string, string>, raw: string, body: unknown, verified: boolean, error: string | null, status: number, at: number }[]} */
  const received = [];
  /** @type {{ match: string, status: number, times: number | null }[]} */
  const rules = [];

  async function handle(request, response) {
    const target = new URL(request.url ?? "/", "http://127.0.0.1");
    const reply = replier(response);
    const raw = (await readBody(request)).toString("utf8");
    if (request.method === "GET" && target.pathname === "/received") {
      const match = target.searchParams.get("match") ?? "";
      return reply(200, { received: received.filter((r) => r.raw.includes(match)) });
    }
    if (request.method === "POST" && target.pathname === "/rules") {
      const rule = JSON.parse(raw);
      rules.push({ match: String(rule.match), status: Number(rule.status), times: rule.times ?? null });
      return reply(200, { ok: true });
    }
    const endpoint = /^\/hooks\/([a-z]+)$/.exec(target.pathname)?.[1];
    if (request.method !== "POST" || !endpoint || !verifiers[endpoint]) return reply(404, { error: "not found" });
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]));
    let verified = false;
    let error = null;
    try {
      verifiers[endpoint].verify(raw, headers);
      verified = true;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const rule = rules.find((r) => raw.includes(r.match) && (r.times === null || r.times > 0));
    if (rule && rule.times !== null) rule.times--;
    const status = !verified ? 400 : rule ? rule.status : defaultStatus;
    let body = null;
    try {
      body = JSON.parse(raw);
    } catch {
      body = null;
    }
    received.push({ endpoint, headers, raw, body, verified, error, status, at: Date.now() });
    return reply(status, { ok: status < 300 });
  }

  const server = await listenLoopback(handle, { port });
  return { url: server.base, port: server.port, close: server.close };
}

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  const { port, url, secrets } = JSON.parse(process.env.WEBHOOK_TEST_SETUP ?? "null") ?? (await prepareWebhookTest(), JSON.parse(process.env.WEBHOOK_TEST_SETUP));
  const receiver = await startWebhookReceiver({ port, secrets });
  project.provide("webhooks", { url, secrets });
  return receiver.close;
}
