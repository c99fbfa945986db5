/**
 * What the bench measures: the floor worker's routes and the service's routes, each as a closed
 * loop scenario for bench/driver.mjs. Every scenario checks each answer (status and content), so a
 * fast wrong answer counts as a failure, never as throughput. Rate-limited routes come in two
 * modes: `fresh` (a new CF-Connecting-IP per request, so every limiter object is new) and `warm`
 * (one address per client from a pool whose limits the run raised by config).
 *
 * @example
 * import { floorScenarios, serviceScenarios } from "./scenarios.mjs";
 * const scenarios = [...floorScenarios(floorUrl), ...serviceScenarios(serviceUrl, state)];
 */
import { addresses, parse } from "./accounts.mjs";

const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** The floors: the least each kind of work costs under the same wrangler dev. */
export function floorScenarios(url) {
  const ok = (res) => res.status === 200;
  return [
    { name: "floor: trivial JSON", key: "floor.json", url, request: () => ({ path: "/json" }), check: ok },
    { name: "floor: one D1 read", key: "floor.d1", url, request: (c) => ({ path: `/d1?id=${c.index}` }), check: ok },
    { name: "floor: one Durable Object call", key: "floor.do", url, request: (c) => ({ path: `/do?key=client-${c.index}` }), check: ok },
    { name: "floor: PBKDF2-SHA256 100k", key: "floor.pbkdf2", url, request: () => ({ path: "/pbkdf2" }), check: ok },
    { name: "reference: one D1 write", key: "ref.d1write", url, request: (c) => ({ path: `/d1-write?id=${c.index}` }), check: (res) => ok(res) && parse(res).changes === 1 },
    { name: "reference: one DO call with a storage write", key: "ref.dowrite", url, request: (c) => ({ path: `/do-write?key=client-${c.index}` }), check: ok },
    { name: "reference: DO write on a new object", key: "ref.dowrite.new", url, request: () => ({ path: `/do-write?key=new-${crypto.randomUUID()}` }), check: ok },
    { name: "reference: one ES256 sign", key: "ref.sign", url, request: () => ({ path: "/sign" }), check: ok },
    { name: "reference: one ES256 verify", key: "ref.verify", url, request: () => ({ path: "/verify" }), check: (res) => ok(res) && parse(res).valid === true },
    { name: "reference: one JSON log line", key: "ref.log", url, request: () => ({ path: "/log" }), check: ok },
    {
      name: "floor: guest rows (user + session, one D1 batch)", key: "floor.guest", url,
      request: () => ({ path: "/guest-batch", headers: { "cf-connecting-ip": addresses.fresh() } }),
      check: (res) => ok(res) && parse(res).changes === 2,
    },
  ];
}

/** The address a request comes from: a new one each time, or the client's own from a pool. */
function addressing(mode, connections) {
  if (mode === "fresh") return { init: () => ({}), ip: () => addresses.fresh() };
  const pool = addresses.pool(connections);
  return { init: (index) => ({ ip: pool[index % pool.length] }), ip: (client) => client.ip };
}

function isPair(body, userId) {
  return typeof body.accessToken === "string" && typeof body.refreshToken === "string" && body.tokenType === "Bearer" &&
    (userId === undefined || body.user?.id === userId);
}

/**
 * The service's routes. `state` holds what the scenarios need and update:
 * readers[i] = { id, accessToken, sessionId } (me and sessions), loginUsers[i] = { email, password, id },
 * chains[i] = { id, refreshToken } (one user, one live session per refresh chain).
 */
export function serviceScenarios(url, state, connections) {
  const me = {
    name: "me", key: "me", url,
    request: (c) => ({ path: "/v1/auth/me", headers: bearer(state.readers[c.index].accessToken) }),
    check: (res, c) => res.status === 200 && parse(res).user?.id === state.readers[c.index].id,
  };
  const limited = (mode) => {
    const guest = addressing(mode, connections);
    const login = addressing(mode, connections);
    const refresh = addressing(mode, connections);
    const sessions = addressing(mode, connections);
    return [
      {
        name: `guest (${mode} IP)`, key: `guest.${mode}`, url, init: guest.init,
        request: (c) => ({ method: "POST", path: "/v1/auth/guest", headers: { "cf-connecting-ip": guest.ip(c) } }),
        check: (res) => res.status === 200 && isPair(parse(res)) && parse(res).user.isGuest === true,
      },
      {
        name: `login (${mode} IP)`, key: `login.${mode}`, url, init: login.init,
        request: (c) => {
          const user = state.loginUsers[c.index];
          return { method: "POST", path: "/v1/auth/login", headers: { "cf-connecting-ip": login.ip(c) }, body: { email: user.email, password: user.password } };
        },
        check: (res, c) => res.status === 200 && isPair(parse(res), state.loginUsers[c.index].id),
      },
      {
        // A chain: each client presents the refresh token it got last.
        name: `refresh chain (${mode} IP)`, key: `refresh.${mode}`, url, init: refresh.init,
        request: (c) => ({
          method: "POST", path: "/v1/auth/refresh", headers: { "cf-connecting-ip": refresh.ip(c) },
          body: { refreshToken: state.chains[c.index].refreshToken },
        }),
        check: (res, c) => {
          if (res.status !== 200) return false;
          const body = parse(res);
          const chain = state.chains[c.index];
          if (!isPair(body, chain.id) || body.refreshToken === chain.refreshToken) return false;
          chain.refreshToken = body.refreshToken;
          chain.rotations++;
          return true;
        },
      },
      {
        name: `sessions list (${mode} IP)`, key: `sessions.${mode}`, url, init: sessions.init,
        request: (c) => ({
          path: "/v1/auth/sessions",
          headers: { "cf-connecting-ip": sessions.ip(c), ...bearer(state.readers[c.index].accessToken) },
        }),
        check: (res, c) =>
          res.status === 200 && parse(res).sessions?.some((s) => s.id === state.readers[c.index].sessionId && s.current === true),
      },
    ];
  };
  // Every middleware and the log line, no route work: what the HTTP stack costs on its own.
  const stack = {
    name: "service: GET /health (middleware stack only)", key: "stack", url,
    request: () => ({ path: "/health" }), check: (res) => res.status === 200 && parse(res).status === "ok",
  };
  return [me, stack, ...limited("warm"), ...limited("fresh")];
}
