/**
 * The routes `npm run bench:far` times, prepared on one service (one placement) the way a client uses
 * them: me, refresh, sessions, verify-session (`AuthRpc.verifySession` over RPC), login, code,
 * passkey, id-token, guest. Each route is `{ prepare(count), request(), check(res) }`: `prepare` makes
 * the single-use inputs (codes, passkey challenges) outside the timed requests, `request` builds the
 * next one, `check` says whether the answer was right (and carries a refresh chain forward).
 * Code, passkey and ID-token come from bench/features.mjs (the same clients `npm run bench` uses).
 *
 * @example
 * import { prepareRoutes } from "./routes.mjs";
 * const routes = await prepareRoutes(agent, "http://127.0.0.1:8800", provider);
 * await routes.me.prepare(40); const res = await send(agent, url, routes.me.request());
 */
import { addresses, login, prepareUsers } from "../accounts.mjs";
import { featureScenarios } from "../features.mjs";

export const ROUTES = ["me", "refresh", "sessions", "verify-session", "login", "code", "passkey", "id-token", "guest"];

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const json = (res) => {
  try {
    return JSON.parse(res.text);
  } catch {
    return {};
  }
};

/** Prepares every route of ROUTES on the service at `url`; `provider` is the shared loopback OpenID provider. */
export async function prepareRoutes(agent, url, provider) {
  // One address for every timed request: its limiter object is warm, as a returning user's is.
  const [ip] = addresses.pool(1);
  const [signer, reader] = await prepareUsers(agent, url, 2, "far");
  const readerPair = await login(agent, url, reader, addresses.fresh());
  const chainPair = await login(agent, url, reader, addresses.fresh());
  const chain = { refreshToken: chainPair.refreshToken };
  const features = await featureScenarios(agent, url, { readers: [{ accessToken: readerPair.accessToken }] }, 1, { provider });
  const feature = (key) => {
    const s = features.scenarios.find((f) => f.key === key);
    if (!s) throw new Error(`${key}: ${JSON.stringify(features.absent)}`);
    const client = { index: 0, ...s.init(0), ip };
    return { prepare: (count) => (s.prepare ? s.prepare(count) : undefined), request: () => s.request(client), check: (res) => s.check(res, client) };
  };
  const same = { prepare: async () => {} };
  return {
    me: {
      ...same,
      request: () => ({ path: "/v1/auth/me", headers: { "cf-connecting-ip": ip, ...bearer(readerPair.accessToken) } }),
      check: (res) => res.status === 200 && json(res).user?.id === reader.id,
    },
    refresh: {
      ...same,
      request: () => ({ method: "POST", path: "/v1/auth/refresh", headers: { "cf-connecting-ip": ip }, body: { refreshToken: chain.refreshToken } }),
      check: (res) => {
        const body = json(res);
        if (res.status !== 200 || body.user?.id !== reader.id || body.refreshToken === chain.refreshToken) return false;
        chain.refreshToken = body.refreshToken;
        return true;
      },
    },
    sessions: {
      ...same,
      request: () => ({ path: "/v1/auth/sessions", headers: { "cf-connecting-ip": ip, ...bearer(readerPair.accessToken) } }),
      check: (res) => res.status === 200 && (json(res).sessions ?? []).some((s) => s.current),
    },
    "verify-session": {
      ...same,
      request: () => ({ method: "POST", path: "/__bench/verify-session", body: { accessToken: readerPair.accessToken } }),
      check: (res) => res.status === 200 && json(res).session?.userId === reader.id,
    },
    login: {
      ...same,
      request: () => ({ method: "POST", path: "/v1/auth/login", headers: { "cf-connecting-ip": ip }, body: { email: signer.email, password: signer.password } }),
      check: (res) => res.status === 200 && json(res).user?.id === signer.id,
      // bench/far/run.mjs signs each one out, untimed (the signer stays under the session limit).
      endsSession: true,
    },
    code: { ...feature("code.verify"), endsSession: true },
    passkey: { ...feature("passkey.login"), endsSession: true },
    "id-token": { ...feature("idtoken.signin"), endsSession: true },
    guest: {
      ...same,
      request: () => ({ method: "POST", path: "/v1/auth/guest", headers: { "cf-connecting-ip": ip } }),
      check: (res) => res.status === 200 && json(res).user?.isGuest === true,
    },
  };
}
