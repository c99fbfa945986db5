/**
 * Client-side helpers the bench uses to talk to the running service: client addresses, and users
 * prepared the way a real client would (register, read the mailed link from the development outbox,
 * verify, log in). Every preparing call comes from a fresh address so the real per-address limits
 * (register 10/hour, verify 10/minute) never get in the way.
 *
 * @example
 * import { addresses, prepareUsers, login } from "./accounts.mjs";
 * const users = await prepareUsers(agent, base, 32, "chain");
 * const pair = await login(agent, base, users[0], addresses.fresh());
 */
import { send } from "./driver.mjs";

export const PASSWORD = "violet-harbor-lantern-42";

let freshCounter = 0;
let poolCounter = 0;

/** Client addresses: a never-repeating one per call, or a stable pool for warm limiter objects. */
export const addresses = {
  /** 10.0.0.0/8, never the same twice in a run: every rate-limiter object it reaches is new. */
  fresh() {
    const n = ++freshCounter;
    return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  },
  /** `size` addresses from 172.16.0.0/12 that no other pool of this run shares. */
  pool(size) {
    const start = poolCounter;
    poolCounter += size;
    return Array.from({ length: size }, (_, i) => {
      const n = start + i + 1;
      return `172.${16 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}`;
    });
  },
};

export function parse(res) {
  try {
    return JSON.parse(res.text);
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${res.text.slice(0, 200)}`);
  }
}

async function expectStatus(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 200)}`);
  return parse(res);
}

/** The token of the newest mailed link to `path` (/verify-email), polling while delivery runs after the answer. */
async function mailedToken(agent, base, to, path) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const res = await send(agent, base, { path: `/_dev/mail?to=${encodeURIComponent(to)}`, headers: { accept: "application/json" } });
    const { messages } = await expectStatus(res, 200, "outbox");
    for (const message of messages) {
      const link = message.text.match(/https?:\/\/\S+/g)?.find((url) => new URL(url).pathname === path);
      const token = link && new URL(link).searchParams.get("token");
      if (token) return token;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail with a ${path} link reached ${to}`);
}

/** Registers and verifies one user (`headers` added to both requests); returns { email, password, id }. */
export async function prepareUser(agent, base, label, headers = {}) {
  const email = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const registered = await send(agent, base, {
    method: "POST",
    path: "/v1/auth/register",
    headers: { "cf-connecting-ip": addresses.fresh(), ...headers },
    body: { email, password: PASSWORD },
  });
  const { user } = await expectStatus(registered, 201, "register");
  const token = await mailedToken(agent, base, email, "/verify-email");
  const verified = await send(agent, base, {
    method: "POST",
    path: "/v1/auth/verify-email",
    headers: { "cf-connecting-ip": addresses.fresh(), ...headers },
    body: { token },
  });
  await expectStatus(verified, 200, "verify-email");
  return { email, password: PASSWORD, id: user.id };
}

/** `count` verified users, a few at a time (each registration hashes a password); `headers` as `prepareUser`'s. */
export async function prepareUsers(agent, base, count, label, headers = {}) {
  const users = [];
  for (let i = 0; i < count; i += 4) {
    const batch = Array.from({ length: Math.min(4, count - i) }, () => prepareUser(agent, base, label, headers));
    users.push(...(await Promise.all(batch)));
  }
  return users;
}

/** A password login (`headers` added to the request); returns the TokenPair. */
export async function login(agent, base, user, ip, headers = {}) {
  const res = await send(agent, base, {
    method: "POST",
    path: "/v1/auth/login",
    headers: { "cf-connecting-ip": ip, ...headers },
    body: { email: user.email, password: user.password },
  });
  return expectStatus(res, 200, "login");
}

/**
 * Users for the service scenarios of a quick run (profile, A/B): `connections` users for logins,
 * as many signed-in readers for me and the sessions list, and as many refresh chains.
 */
export async function prepareScenarioState(agent, base, connections, label) {
  const users = await prepareUsers(agent, base, 3 * connections, label);
  const state = { loginUsers: users.slice(0, connections), readers: [], chains: [] };
  for (const user of users.slice(connections, 2 * connections)) {
    const pair = await login(agent, base, user, addresses.fresh());
    state.readers.push({ id: user.id, accessToken: pair.accessToken, sessionId: pair.sessionId });
  }
  for (const user of users.slice(2 * connections)) {
    const pair = await login(agent, base, user, addresses.fresh());
    state.chains.push({ id: user.id, refreshToken: pair.refreshToken, rotations: 0 });
  }
  return state;
}
