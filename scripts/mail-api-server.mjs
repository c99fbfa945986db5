/**
 * Vitest globalSetup of the workers project (runs in Node, so plain JavaScript: the project has no
 * Node type definitions): a real HTTP mail API on 127.0.0.1, shaped like Resend's
 * `POST /emails`, for testing the HTTP mail transport end to end. It checks every request itself
 * (method, bearer key, content type, JSON shape, no CR/LF in the subject) and answers 422 with the
 * reason when something is off, so a malformed payload fails the delivery like the real API would.
 * Recipients whose address starts with "fail-" get a 503, to test failed deliveries.
 *
 * Tests read what arrived with `GET /received?to=<address>`; they get the URL and the bearer key the
 * server expects through `inject("mailApiUrl")` and `inject("mailApiKey")`.
 *
 * @example
 * // vitest.config.ts: test.globalSetup = ["./scripts/mail-api-server.mjs"]
 * const url = inject("mailApiUrl"); // "http://127.0.0.1:41234"
 */
import { listenLoopback, readBody, replier } from "./loopback-server.mjs";

const MAIL_API_TEST_KEY = `re_test_${crypto.randomUUID().slice(0, 8)}`;

const MAX_BODY_BYTES = 256 * 1024;

const isAddress = (value) => typeof value === "string" && /^[^\s@<>]+@[^\s@<>]+\.[a-z]{2,}$/i.test(value);

/** What is wrong with a request (null when it is a well-formed send), and its parsed body. */
function problemWith(request, raw) {
  if (request.headers.authorization !== `Bearer ${MAIL_API_TEST_KEY}`) return { problem: "bad bearer key", body: null };
  if (!/^application\/json\b/.test(request.headers["content-type"] ?? "")) return { problem: "not JSON", body: null };
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return { problem: "malformed JSON", body: null };
  }
  if (!body || typeof body !== "object") return { problem: "body is not an object", body: null };
  if (!isAddress(body.from)) return { problem: "from is not an address", body };
  if (!Array.isArray(body.to) || body.to.length !== 1 || !isAddress(body.to[0])) return { problem: "to is not [address]", body };
  if (typeof body.subject !== "string" || body.subject === "" || /[\r\n]/.test(body.subject)) return { problem: "bad subject", body };
  if (typeof body.text !== "string" || body.text === "") return { problem: "no text part", body };
  if (typeof body.html !== "string" || !body.html.startsWith("<!doctype html>")) return { problem: "no html part", body };
  return { problem: null, body };
}

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  /** Every request to /emails: { accepted, status, problem, authorization, contentType, body }. */
  const received = [];

  async function handle(request, response) {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const reply = replier(response);
    if (request.method === "GET" && url.pathname === "/received") {
      const to = url.searchParams.get("to");
      return reply(200, { received: received.filter((r) => Array.isArray(r.body?.to) && r.body.to.includes(to)) });
    }
    if (request.method !== "POST" || url.pathname !== "/emails") return reply(404, { error: "not found" });
    const { problem, body } = problemWith(request, (await readBody(request, MAX_BODY_BYTES)).toString("utf8"));
    const failing = Array.isArray(body?.to) && String(body.to[0]).startsWith("fail-");
    const status = problem ? 422 : failing ? 503 : 200;
    received.push({
      accepted: status === 200,
      status,
      problem,
      authorization: request.headers.authorization ?? null,
      contentType: request.headers["content-type"] ?? null,
      body,
    });
    return reply(status, status === 200 ? { id: crypto.randomUUID() } : { error: problem ?? "unavailable" });
  }

  const server = await listenLoopback(handle);
  project.provide("mailApiUrl", server.base);
  project.provide("mailApiKey", MAIL_API_TEST_KEY);
  return server.close;
}
