/**
 * A stand-in for Cloudflare Turnstile's siteverify on 127.0.0.1, speaking its protocol: `POST
 * /turnstile/v0/siteverify` with `secret`, `response`, `remoteip` and `idempotency_key` as a form
 * (urlencoded or multipart) or JSON, parsed by the platform's own parsers (undici's `formData()`,
 * `JSON.parse`), answered `{ success, challenge_ts, hostname, "error-codes", action, cdata }`.
 * Like the real one it knows only the tokens it issued, spends each at its first check (a second
 * check answers `timeout-or-duplicate`, unless it carries the first check's idempotency_key, which
 * replays the first verdict), lets a token expire after 300 s (`timeout-or-duplicate`), and answers
 * `invalid-input-secret`, `missing-input-response` and `invalid-input-response` where Cloudflare does.
 *
 * Test endpoints, standing for the widget and for what Cloudflare saw:
 * - `POST /__test/tokens` `{ hostname?, action?, ageSeconds?, behaviour? }` → `{ token }`: a token
 *   as the widget would hand it out on `hostname` (default app.example.com), issued `ageSeconds`
 *   ago. `behaviour`: "pass" (default), "hang" (siteverify never answers), "error" (500 every
 *   time), "lost-once" (the first check spends the token and answers 502, as if its answer were
 *   lost), "not-json" (200 with an HTML page).
 * - `GET /__test/received?token=…` → `{ received: [{ contentType, secretOk, response, remoteip,
 *   idempotencyKey, answered }] }`: every siteverify request that named the token, in order.
 *
 * The widget, for browser tests (scripts/turnstile-widget-stand-in.mjs):
 * - `GET /turnstile/v0/api.js[?onload=fn]`: a stand-in for Cloudflare's widget script that hands the
 *   page tokens this server issued (3 per load, host app.example.com) for the site key `siteKey`;
 *   `GET /turnstile/v0/widget`: the page of the widget's iframe.
 * - `GET /__test/widget` → `{ loads, tokens }`: how often the script was served, every token it carried.
 *
 * Used as a Vitest globalSetup of the workers project (provides `siteverifyUrl`, `siteverifyBase`,
 * `siteverifySecret`) and started directly by the SDK's Turnstile test (`startSiteverify`).
 *
 * @example
 * const server = await startSiteverify();
 * // server.url: "http://127.0.0.1:41234/turnstile/v0/siteverify"; server.scriptUrl (the widget);
// server.secret; server.siteKey; await server.close()
 */
import { listenLoopback, readBody, replier } from "./loopback-server.mjs";
import { WIDGET_FRAME, widgetScript } from "./turnstile-widget-stand-in.mjs";

const TOKEN_TTL_MS = 300_000;
const MAX_BODY_BYTES = 64 * 1024;

/** The fields of a siteverify request, parsed as Cloudflare accepts them; null when unparsable. */
async function parseFields(contentType, raw) {
  if (/^application\/json\b/i.test(contentType)) {
    try {
      const body = JSON.parse(raw.toString("utf8"));
      return body && typeof body === "object" ? Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === "string" ? v : undefined])) : null;
    } catch {
      return null;
    }
  }
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(contentType)) {
    try {
      const form = await new Request("http://siteverify.invalid/", { method: "POST", headers: { "content-type": contentType }, body: raw }).formData();
      return Object.fromEntries([...form.entries()].map(([k, v]) => [k, typeof v === "string" ? v : undefined]));
    } catch {
      return null;
    }
  }
  return null;
}

/** Starts the stand-in on an ephemeral loopback port. */
export async function startSiteverify() {
  const secret = `0x4AAAAAAA${crypto.randomUUID().replace(/-/g, "")}`;
  const siteKey = `0x4AAAAAAA${crypto.randomUUID().replace(/-/g, "").slice(0, 14)}`;
  const widget = { loads: 0, tokens: [] };
  /** token → { hostname, action, issuedAt, behaviour, spentBy: idempotency key | "" | undefined, verdict, checks } */
  const tokens = new Map();
  const received = [];
  const hanging = new Set();

  const verdictFor = (fields, record) => {
    const fail = (...codes) => ({ success: false, "error-codes": codes });
    if (!fields.secret) return fail("missing-input-secret");
    if (fields.secret !== secret) return fail("invalid-input-secret");
    if (!fields.response) return fail("missing-input-response");
    const token = tokens.get(fields.response);
    if (!token || fields.response.length > 2048) return fail("invalid-input-response");
    const key = fields.idempotency_key || "";
    if (token.spentBy !== undefined) {
      return key && token.spentBy === key ? token.verdict : fail("timeout-or-duplicate");
    }
    token.spentBy = key;
    token.verdict =
      Date.now() - token.issuedAt > TOKEN_TTL_MS
        ? fail("timeout-or-duplicate")
        : {
            success: true,
            challenge_ts: new Date(token.issuedAt).toISOString(),
            hostname: token.hostname,
            "error-codes": [],
            action: token.action,
            cdata: "",
            metadata: { ephemeral_id: `x:${crypto.randomUUID().slice(0, 8)}` },
          };
    record.spent = true;
    return token.verdict;
  };

  /** A token as the widget would hand it out; see `POST /__test/tokens`. */
  function issue(options) {
    const token = `0.${Buffer.from(crypto.getRandomValues(new Uint8Array(96))).toString("base64url")}`;
    tokens.set(token, {
      hostname: options.hostname ?? "app.example.com",
      action: options.action ?? "",
      issuedAt: Date.now() - (options.ageSeconds ?? 0) * 1000,
      behaviour: options.behaviour ?? "pass",
      spentBy: undefined,
      verdict: null,
      checks: 0,
    });
    return token;
  }

  async function handle(request, response) {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const reply = replier(response);
    if (request.method === "POST" && url.pathname === "/__test/tokens") {
      const options = JSON.parse((await readBody(request, MAX_BODY_BYTES)).toString("utf8") || "{}");
      return reply(200, { token: issue(options) });
    }
    if (request.method === "GET" && url.pathname === "/turnstile/v0/api.js") {
      const handedOut = [issue({}), issue({}), issue({})];
      widget.loads += 1;
      widget.tokens.push(...handedOut);
      const origin = `http://${request.headers.host}`;
      return reply(200, widgetScript({ origin, siteKey, tokens: handedOut }), "text/javascript; charset=utf-8");
    }
    if (request.method === "GET" && url.pathname === "/turnstile/v0/widget") return reply(200, WIDGET_FRAME, "text/html; charset=utf-8");
    if (request.method === "GET" && url.pathname === "/__test/widget") return reply(200, widget);
    if (request.method === "GET" && url.pathname === "/__test/received") {
      const token = url.searchParams.get("token");
      return reply(200, { received: received.filter((r) => r.response === token) });
    }
    if (url.pathname !== "/turnstile/v0/siteverify") return reply(404, { error: "not found" });
    if (request.method !== "POST") return reply(405, { success: false, "error-codes": ["bad-request"] });
    const contentType = request.headers["content-type"] ?? "";
    const fields = await parseFields(contentType, await readBody(request, MAX_BODY_BYTES));
    const record = {
      contentType,
      secretOk: fields?.secret === secret,
      response: fields?.response ?? null,
      remoteip: fields?.remoteip ?? null,
      idempotencyKey: fields?.idempotency_key ?? null,
      answered: null,
    };
    received.push(record);
    if (!fields) {
      record.answered = 400;
      return reply(400, { success: false, "error-codes": ["bad-request"] });
    }
    const token = tokens.get(fields.response ?? "");
    const behaviour = token?.behaviour ?? "pass";
    if (token) token.checks += 1;
    if (behaviour === "hang") {
      hanging.add(response);
      response.on("close", () => hanging.delete(response));
      return;
    }
    if (behaviour === "error") {
      record.answered = 500;
      return reply(500, "internal error", "text/plain");
    }
    if (behaviour === "not-json") {
      record.answered = 200;
      return reply(200, "<html><body>Service Unavailable</body></html>", "text/html");
    }
    const verdict = verdictFor(fields, record);
    if (behaviour === "lost-once" && token.checks === 1) {
      record.answered = 502;
      return reply(502, "bad gateway", "text/plain");
    }
    record.answered = 200;
    return reply(200, verdict);
  }

  const server = await listenLoopback(handle);
  const { base } = server;
  return {
    base,
    url: `${base}/turnstile/v0/siteverify`,
    scriptUrl: `${base}/turnstile/v0/api.js`,
    secret,
    siteKey,
    close: () => {
      for (const response of hanging) response.destroy();
      return server.close();
    },
  };
}

/** Vitest globalSetup. @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  const server = await startSiteverify();
  project.provide("siteverifyUrl", server.url);
  project.provide("siteverifyBase", server.base);
  project.provide("siteverifySecret", server.secret);
  return server.close;
}
