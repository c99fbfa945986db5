/**
 * Scenarios for the sign-in and lifecycle features of API.md §9–§13 (email-code verify, passkey
 * login, ID-token sign-in, activity, admin search), prepared the way a client uses them. Each is
 * probed first: a route the service does not have yet (404) is reported as "route absent" in the
 * bench report and not run; a route that answers but cannot be prepared is reported with its
 * answer. All run with a warm address pool and raised limits (`FEATURE_VARS`).
 *
 * Single-use inputs (codes, passkey challenges) are prepared before each round (`prepare(count)`),
 * outside the measured window; a client that runs out stops, and the window ends when all have.
 *
 * @example
 * import { FEATURE_VARS, featureScenarios } from "./features.mjs";
 * const service = await startService({ ..., vars: { ...FEATURE_VARS } });
 * const { scenarios, absent } = await featureScenarios(agent, service.url, state, 32);
 */
import { addresses, parse } from "./accounts.mjs";
import { send } from "./driver.mjs";
import { startProvider } from "./oidc-provider.mjs";
import { Passkey } from "./webauthn.mjs";

const RAISED = "1000000/3600";
export const ADMIN_KEY = "bench-admin-key-0123456789abcdefghijklmnop";
export const OIDC_PORT = 8788;
export const OIDC_CLIENT = "bench-client";
/** The "browser" origin of the passkey scenario; the service is told to accept it. */
const ORIGIN = "http://localhost:8790";

/** Settings the feature scenarios need on the measured service (limits raised as for the others). */
export const FEATURE_VARS = {
  ADMIN_API_KEY: ADMIN_KEY,
  OIDC_PROVIDERS: JSON.stringify({ bench: { clientIds: [OIDC_CLIENT], issuer: `http://127.0.0.1:${OIDC_PORT}` } }),
  WEBAUTHN_RP_ID: "localhost",
  WEBAUTHN_ORIGINS: ORIGIN,
  RATE_LIMIT_CODE: RAISED, RATE_LIMIT_RECOVERY: RAISED, RATE_LIMIT_RECOVERY_PER_EMAIL: RAISED,
  RATE_LIMIT_ACCOUNT: RAISED, RATE_LIMIT_ADMIN: RAISED,
};

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const isPair = (body) => typeof body.accessToken === "string" && typeof body.refreshToken === "string";
const json = (res) => { try { return JSON.parse(res.text); } catch { return {}; } };
const brief = (res) => `${res.status} ${res.text.replace(/\s+/g, " ").slice(0, 120)}`;

/** A warm address per client, from its own pool. */
function warm(connections) {
  const pool = addresses.pool(connections);
  return { init: (index) => ({ ip: pool[index % pool.length] }) };
}

/** The newest 6-digit code mailed to `email` once more than `seen` messages reached it. */
async function mailedCode(agent, url, email, seen) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { messages = [] } = parse(await send(agent, url, { path: `/_dev/mail?to=${encodeURIComponent(email)}`, headers: { accept: "application/json" } }));
    // Newest first: among the messages that arrived since, the newest that carries a code.
    const code = messages.slice(0, Math.max(0, messages.length - seen)).map((m) => m.text.match(/\b(\d{6})\b/)?.[1]).find(Boolean);
    if (code) return { code, seen: messages.length };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no code reached ${email}`);
}

/** Asks for a code for `account` and reads it from the outbox; returns the code. */
async function freshCode(agent, url, account) {
  const res = await send(agent, url, { method: "POST", path: "/v1/auth/email-code", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email: account.email } });
  if (res.status !== 200) throw new Error(`email-code: ${brief(res)}`);
  const { code, seen } = await mailedCode(agent, url, account.email, account.seen);
  account.seen = seen;
  return code;
}

/** In parallel, a few at a time. */
async function each(items, fn, width = 8) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** Email-code sign-in of existing accounts: each measured request spends one code prepared before the round. */
function codeScenario(agent, url, connections) {
  const accounts = [];
  let queue = [];
  const { init } = warm(connections);
  return {
    name: "email-code verify, sign-in (warm IP)", key: "code.verify", url, init,
    async prepare(count) {
      // Accounts made by a first code (sign-up); each then holds at most one live code at a time.
      const missing = Array.from({ length: Math.max(0, count - accounts.length) }, () => ({ email: `code-${crypto.randomUUID().slice(0, 8)}@example.com`, seen: 0 }));
      await each(missing, async (account) => {
        const code = await freshCode(agent, url, account);
        const res = await send(agent, url, { method: "POST", path: "/v1/auth/email-code/verify", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email: account.email, code } });
        if (res.status !== 200) throw new Error(`email-code/verify (sign-up): ${brief(res)}`);
        accounts.push(account);
      });
      const round = accounts.slice(0, count);
      await each(round, async (account) => (account.code = await freshCode(agent, url, account)));
      queue = round.map((a) => ({ email: a.email, code: a.code }));
    },
    request: (c) => {
      const next = queue.pop();
      return next ? { method: "POST", path: "/v1/auth/email-code/verify", headers: { "cf-connecting-ip": c.ip }, body: next } : null;
    },
    check: (res) => res.status === 200 && isPair(parse(res)),
  };
}

/** Passkey login: one guest with one software passkey per client; challenges fetched before the round. */
async function passkeyScenario(agent, url, connections) {
  const passkeys = [];
  for (let i = 0; i < connections; i++) {
    const guest = json(await send(agent, url, { method: "POST", path: "/v1/auth/guest", headers: { "cf-connecting-ip": addresses.fresh() } }));
    const headers = { "cf-connecting-ip": addresses.fresh(), ...bearer(guest.accessToken) };
    const options = await send(agent, url, { method: "POST", path: "/v1/auth/passkeys/register/options", headers });
    if (options.status !== 200) throw new Error(`passkeys/register/options: ${brief(options)}`);
    const { challengeId, options: creation } = parse(options);
    const passkey = new Passkey(ORIGIN);
    const registered = await send(agent, url, { method: "POST", path: "/v1/auth/passkeys/register", headers, body: { challengeId, response: passkey.register(creation), name: "bench" } });
    if (registered.status !== 201) throw new Error(`passkeys/register: ${brief(registered)}`);
    passkeys.push({ passkey, userId: guest.user.id });
  }
  let queues = [];
  const { init } = warm(connections);
  return {
    name: "passkey login (warm IP)", key: "passkey.login", url, init,
    async prepare(count) {
      const challenges = [];
      await each(Array.from({ length: count }), async () => {
        const res = await send(agent, url, { method: "POST", path: "/v1/auth/passkeys/login/options", headers: { "cf-connecting-ip": addresses.fresh() } });
        if (res.status !== 200) throw new Error(`passkeys/login/options: ${brief(res)}`);
        challenges.push(parse(res));
      });
      queues = passkeys.map(() => []);
      challenges.forEach((challenge, i) => queues[i % passkeys.length].push(challenge));
    },
    request: (c) => {
      const challenge = queues[c.index]?.pop();
      if (!challenge) return null;
      const response = passkeys[c.index].passkey.assert(challenge.options.challenge);
      return { method: "POST", path: "/v1/auth/passkeys/login", headers: { "cf-connecting-ip": c.ip }, body: { challengeId: challenge.challengeId, response } };
    },
    check: (res, c) => res.status === 200 && parse(res).user?.id === passkeys[c.index].userId,
  };
}

/** ID-token sign-in of a linked identity: each client its own `sub`, a freshly minted token per request. */
async function idTokenScenario(agent, url, connections, provider) {
  const { init } = warm(connections);
  const subjects = Array.from({ length: connections }, (_, i) => ({ sub: `bench-${i}-${crypto.randomUUID().slice(0, 8)}` }));
  const body = (s) => ({ provider: "bench", idToken: provider.idToken({ sub: s.sub, email: `${s.sub}@example.com` }) });
  for (const subject of subjects) {
    // The first sign-in creates the account and links the identity; the measured ones find it.
    const res = await send(agent, url, { method: "POST", path: "/v1/auth/id-token", headers: { "cf-connecting-ip": addresses.fresh() }, body: body(subject) });
    if (res.status !== 200) throw new Error(`id-token (first sign-in): ${brief(res)}`);
    subject.userId = parse(res).user?.id;
  }
  return {
    name: "ID-token sign-in (warm IP)", key: "idtoken.signin", url, init,
    request: (c) => ({ method: "POST", path: "/v1/auth/id-token", headers: { "cf-connecting-ip": c.ip }, body: body(subjects[c.index]) }),
    check: (res, c) => res.status === 200 && parse(res).user?.id === subjects[c.index].userId,
  };
}

/** RFC 6238 (HMAC-SHA-1, 6 digits, 30 s) for the bench's authenticator: the code of `step` for a base32 secret. */
async function totpCode(base32, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of base32) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const bytes = new Uint8Array(Math.floor(bits.length / 8)).map((_, i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2));
  const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const message = new DataView(new ArrayBuffer(8));
  message.setUint32(4, step);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message.buffer));
  const o = mac[19] & 15;
  return String((((mac[o] & 127) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3]) % 1e6).padStart(6, "0");
}

/**
 * mfa/verify (API.md §15): accounts with a TOTP factor (made by an email-code sign-up, then enrolled
 * and activated); before each round every request gets a pending sign-in (an email code answered
 * 403 mfa_required) and one of the account's unused recovery codes, so each measured request
 * completes one sign-in. An account whose codes are spent is replaced by a new one.
 */
function mfaScenario(agent, url, connections) {
  let accounts = [];
  let queue = [];
  const { init } = warm(connections);
  const newAccount = async () => {
    const account = { email: `mfa-${crypto.randomUUID().slice(0, 8)}@example.com`, seen: 0 };
    const code = await freshCode(agent, url, account);
    const signedUp = await send(agent, url, { method: "POST", path: "/v1/auth/email-code/verify", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email: account.email, code } });
    if (signedUp.status !== 200) throw new Error(`email-code/verify (sign-up): ${brief(signedUp)}`);
    const headers = { "cf-connecting-ip": addresses.fresh(), ...bearer(parse(signedUp).accessToken) };
    const enrolled = await send(agent, url, { method: "POST", path: "/v1/auth/mfa/totp", headers, body: {} });
    if (enrolled.status !== 200) throw new Error(`mfa/totp: ${brief(enrolled)}`);
    const { factorId, secret } = parse(enrolled);
    const totp = await totpCode(secret, Math.floor(Date.now() / 30_000));
    const activated = await send(agent, url, { method: "POST", path: "/v1/auth/mfa/totp/activate", headers, body: { factorId, code: totp } });
    if (activated.status !== 200) throw new Error(`mfa/totp/activate: ${brief(activated)}`);
    account.recoveryCodes = parse(activated).recoveryCodes;
    return account;
  };
  return {
    name: "mfa/verify with a recovery code (warm IP)", key: "mfa.verify", url, init,
    async prepare(count) {
      accounts = accounts.filter((a) => a.recoveryCodes.length > 0);
      const missing = Math.max(0, count - accounts.length);
      const made = [];
      await each(Array.from({ length: missing }), async () => made.push(await newAccount()));
      accounts.push(...made);
      const round = accounts.slice(0, count);
      queue = [];
      await each(round, async (account) => {
        const code = await freshCode(agent, url, account);
        const pending = await send(agent, url, { method: "POST", path: "/v1/auth/email-code/verify", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email: account.email, code } });
        if (pending.status !== 403 || parse(pending).error !== "mfa_required") throw new Error(`expected mfa_required: ${brief(pending)}`);
        queue.push({ mfaToken: parse(pending).mfaToken, recoveryCode: account.recoveryCodes.pop() });
      });
    },
    request: (c) => {
      const next = queue.pop();
      return next ? { method: "POST", path: "/v1/auth/mfa/verify", headers: { "cf-connecting-ip": c.ip }, body: next } : null;
    },
    check: (res) => res.status === 200 && isPair(parse(res)),
  };
}

/**
 * Probes each feature route and prepares the ones present. Returns the scenarios, the lines for
 * the routes that are absent or could not be prepared, and `close` (stops the OIDC provider).
 * `shared.provider`: an OpenID provider already running (bench/far/run.mjs serves two services
 * with one provider; `close` then leaves it running).
 * `state.readers` are signed-in users (for activity).
 */
export async function featureScenarios(agent, url, state, connections, shared = {}) {
  const scenarios = [];
  const absent = [];
  const provider = shared.provider ?? (await startProvider(OIDC_PORT, OIDC_CLIENT));
  const probes = [
    {
      name: "activity (warm IP)", route: "GET /v1/auth/activity",
      probe: () => send(agent, url, { path: "/v1/auth/activity?limit=1", headers: { "cf-connecting-ip": addresses.fresh(), ...bearer(state.readers[0].accessToken) } }),
      make: async () => {
        const { init } = warm(connections);
        return {
          name: "activity (warm IP)", key: "activity.warm", url, init,
          request: (c) => ({ path: "/v1/auth/activity?limit=20", headers: { "cf-connecting-ip": c.ip, ...bearer(state.readers[c.index].accessToken) } }),
          check: (res) => res.status === 200 && Array.isArray(parse(res).events) && parse(res).events.length > 0,
        };
      },
    },
    {
      name: "admin search (warm IP)", route: "GET /v1/admin/users",
      probe: () => send(agent, url, { path: "/v1/admin/users?query=reader&limit=1", headers: { "cf-connecting-ip": addresses.fresh(), ...bearer(ADMIN_KEY) } }),
      make: async () => {
        const { init } = warm(connections);
        return {
          name: "admin search (warm IP)", key: "admin.search", url, init,
          request: (c) => ({ path: "/v1/admin/users?query=reader&limit=20", headers: { "cf-connecting-ip": c.ip, ...bearer(ADMIN_KEY) } }),
          check: (res) => res.status === 200 && Array.isArray(parse(res).users) && parse(res).users.length > 0,
        };
      },
    },
    {
      name: "email-code verify (warm IP)", route: "POST /v1/auth/email-code/verify",
      probe: () => send(agent, url, { method: "POST", path: "/v1/auth/email-code/verify", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email: "probe@example.com", code: "000000" } }),
      make: async () => codeScenario(agent, url, connections),
    },
    {
      name: "passkey login (warm IP)", route: "POST /v1/auth/passkeys/login/options",
      probe: () => send(agent, url, { method: "POST", path: "/v1/auth/passkeys/login/options", headers: { "cf-connecting-ip": addresses.fresh() } }),
      make: () => passkeyScenario(agent, url, connections),
    },
    {
      name: "ID-token sign-in (warm IP)", route: "POST /v1/auth/id-token",
      probe: () => send(agent, url, { method: "POST", path: "/v1/auth/id-token", headers: { "cf-connecting-ip": addresses.fresh() }, body: { provider: "bench", idToken: "x.y.z" } }),
      make: () => idTokenScenario(agent, url, connections, provider),
    },
    {
      name: "mfa/verify (warm IP)", route: "POST /v1/auth/mfa/verify",
      probe: () => send(agent, url, { method: "POST", path: "/v1/auth/mfa/verify", headers: { "cf-connecting-ip": addresses.fresh() }, body: { mfaToken: "probe", code: "000000" } }),
      make: async () => mfaScenario(agent, url, connections),
    },
  ];
  for (const { name, route, probe, make } of probes) {
    const res = await probe();
    if (res.status === 404) {
      absent.push({ name, detail: `route absent: ${route} answered ${brief(res)}` });
      continue;
    }
    try {
      scenarios.push(await make());
    } catch (error) {
      absent.push({ name, detail: `not run: preparing failed (${String(error.message ?? error).slice(0, 200)})` });
    }
  }
  return { scenarios, absent, close: () => (shared.provider ? Promise.resolve() : provider.close()) };
}
