/**
 * The client's requests, apart from its session (API.md §14): the one function that sends to
 * `/v1/auth` (a JSON body, `accept: application/json`, the Bearer token when given), how a route's
 * input becomes a path and a body, how an answer is read (§5 errors as EdgeAuthError), and the
 * method tree generated from the route table.
 *
 * @example
 * import { readAnswer, requestOf, sender } from "./request";
 * import { routes } from "./routes";
 * const post = sender((input, init) => fetch(input, init), "https://auth.example.com/v1/auth");
 * const { path, body } = requestOf(routes.sessions.delete, { sessionId }); // "/sessions/<id>", no body
 * await readAnswer<void>(await post("DELETE", path, body, accessToken));
 */
import { errorFrom, networkError } from "./errors";
import { isRoute } from "./routes";
import type { Methods, Route } from "./routes";

/** The fetch the client sends with (ClientOptions.fetch, or globalThis.fetch). */
type Send = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A function that sends `method` to `base` + `path`: `body` (unless undefined) as JSON, `token`
 * (when given) as the Bearer token. Any HTTP answer resolves; a request that got no answer rejects
 * with EdgeAuthError status 0 (`networkError`).
 */
export function sender(send: Send, base: string) {
  return async function post(method: string, path: string, body: unknown, token?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await send(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw networkError(error);
    }
  };
}

/**
 * A route's input as a request: each `:name` in the path is filled from the input's field of that
 * name (URL-encoded) and leaves the body; the other fields are the body, or the query string for a
 * GET. No body when no field is left.
 */
export function requestOf<I, O>(route: Route<I, O>, input?: I): { path: string; body: Record<string, unknown> | undefined } {
  let path = route.path;
  // Fields left undefined are not sent (JSON.stringify would drop them; a query string would not).
  let body: Record<string, unknown> | undefined =
    input == null ? undefined : Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  path = path.replace(/:(\w+)/g, (_, name: string) => {
    const value = body?.[name];
    if (body) delete body[name];
    return encodeURIComponent(String(value));
  });
  if (body && Object.keys(body).length === 0) body = undefined;
  if (route.method === "GET" && body) {
    path += `?${new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)]))}`;
    body = undefined;
  }
  return { path, body };
}

/** An answer's JSON (undefined for a 204 or an empty body); a non-2xx answer throws its EdgeAuthError. */
export async function readAnswer<O>(response: Response): Promise<O> {
  if (!response.ok) throw await errorFrom(response);
  const text = response.status === 204 ? "" : await response.text();
  return (text ? JSON.parse(text) : undefined) as O;
}

/** The route table as methods: each route becomes `(input) => call(route, input)`, each group an object of them. */
export function methods<T>(table: T, call: (route: Route<unknown, unknown>, input?: unknown) => Promise<unknown>): Methods<T> {
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(table as Record<string, unknown>)) {
    out[name] = isRoute(entry) ? (input?: unknown) => call(entry, input) : methods(entry, call);
  }
  return out as Methods<T>;
}
