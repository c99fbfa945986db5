/**
 * The HTTP plumbing the loopback stand-ins share (scripts/webhook-receiver.mjs,
 * oidc-provider-server.mjs, siteverify-server.mjs, mail-api-server.mjs): picking a free port,
 * reading a request body, answering JSON, and starting and stopping a `node:http` server on
 * 127.0.0.1. Each stand-in keeps its own protocol code; only this part is common. Runs in Node
 * (plain JavaScript, as every Vitest globalSetup here).
 *
 * @example
 * import { listenLoopback, readBody, replier } from "./loopback-server.mjs";
 * const server = await listenLoopback(async (request, response) => {
 *   const raw = (await readBody(request, 64 * 1024)).toString("utf8");
 *   replier(response)(200, { echo: raw });
 * });
 * // server.port, server.base ("http://127.0.0.1:41234"); await server.close();
 */
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the system's ephemeral pick), for a server
 * that must be named (in a Worker's bindings) before it starts. @returns {Promise<number>}
 */
export async function freePort() {
  const server = createNetServer();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The request's whole body as bytes. Past `maxBytes` the request is destroyed and the promise
 * rejects (the server's handler then answers 500, as a stand-in should never see such a body).
 *
 * @param {import("node:http").IncomingMessage} request
 * @param {number} [maxBytes] no limit when left out
 * @returns {Promise<Buffer>}
 */
export async function readBody(request, maxBytes = Infinity) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > maxBytes) {
      request.destroy();
      throw new Error("body too large");
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A `reply(status, payload, type?)` for one response: `payload` is sent as JSON when `type` is
 * application/json (the default), as is otherwise; `headers` go on every reply.
 *
 * @param {import("node:http").ServerResponse} response
 * @param {Record<string, string>} [headers]
 * @returns {(status: number, payload: unknown, type?: string) => void}
 */
export const replier =
  (response, headers = {}) =>
  (status, payload, type = "application/json") => {
    response.writeHead(status, { "content-type": type, ...headers });
    response.end(type === "application/json" ? JSON.stringify(payload) : payload);
  };

/**
 * Starts `handle` on 127.0.0.1 (`port`, or one the system picks when 0 or left out). A handler
 * that throws answers 500 (and `onError` hears of it). `close()` drops every open connection, then
 * resolves once the server is closed.
 *
 * @param {(request: import("node:http").IncomingMessage, response: import("node:http").ServerResponse) => Promise<unknown>} handle
 * @param {{ port?: number, onError?: (error: unknown) => void }} [options]
 * @returns {Promise<{ server: import("node:http").Server, port: number, base: string, close: () => Promise<void> }>}
 */
export async function listenLoopback(handle, { port = 0, onError } = {}) {
  const server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      onError?.(error);
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("loopback server has no port");
  return {
    server,
    port: address.port,
    base: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
