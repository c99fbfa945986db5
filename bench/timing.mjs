/**
 * Timing parity for enumeration (issue 7): login with a wrong password, forgot-password and
 * resend-verification must take about the same time for an existing account as for an unknown
 * address. Requests go one at a time, known and unknown alternating (so drift in background load
 * hits both alike), each from a fresh address and each address used once (no limit is reached).
 * The two samples are compared with a two-sided Mann-Whitney U test: the check fails when the
 * difference is significant at p < 0.01 AND the medians differ by more than 2 ms, so a difference
 * too small to exploit over the network does not fail it.
 *
 * @example
 * import { timingParity } from "./timing.mjs";
 * const checks = await timingParity(agent, url, { verified, unverified });
 */
import { PASSWORD, addresses } from "./accounts.mjs";
import { send } from "./driver.mjs";

/** Longer than the mail delivery delay plus its work (src/mail/index.ts waits 25 ms, then a few D1 calls). */
const GAP_MS = 150;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/** Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf). */
function phi(z) {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Two-sided p-value of the Mann-Whitney U test (normal approximation, mid-ranks for ties). */
export function mannWhitneyP(a, b) {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array(all.length);
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const rankSumA = all.reduce((sum, item, i) => sum + (item.g === 0 ? ranks[i] : 0), 0);
  const u = rankSumA - (a.length * (a.length + 1)) / 2;
  const mean = (a.length * b.length) / 2;
  const sd = Math.sqrt((a.length * b.length * (a.length + b.length + 1)) / 12);
  return 2 * (1 - phi(Math.abs((u - mean) / sd)));
}

async function timed(agent, url, path, body) {
  const started = performance.now();
  const answer = await send(agent, url, { method: "POST", path, headers: { "cf-connecting-ip": addresses.fresh() }, body });
  return { ms: performance.now() - started, status: answer.status };
}

async function compare(name, agent, url, path, known, unknown) {
  const a = [];
  const b = [];
  const statuses = new Set();
  for (let i = 0; i < Math.min(known.length, unknown.length); i++) {
    // Which goes first alternates, and each request gets a quiet gap after it: mail work runs
    // after the answer, and must not be charged to whichever request happens to come next.
    const order = i % 2 === 0 ? [known[i], unknown[i]] : [unknown[i], known[i]];
    const first = await timed(agent, url, path, order[0]);
    await sleep(GAP_MS);
    const second = await timed(agent, url, path, order[1]);
    await sleep(GAP_MS);
    const [k, u] = i % 2 === 0 ? [first, second] : [second, first];
    a.push(k.ms);
    b.push(u.ms);
    statuses.add(`${k.status}/${u.status}`);
  }
  const p = mannWhitneyP(a, b);
  const diff = median(a) - median(b);
  const sameStatus = [...statuses].every((s) => s.split("/")[0] === s.split("/")[1]);
  return {
    name: `timing parity, ${name}: existing vs unknown account (${a.length} + ${b.length} requests)`,
    pass: sameStatus && !(p < 0.01 && Math.abs(diff) > 2),
    detail: `median ${median(a).toFixed(1)} vs ${median(b).toFixed(1)} ms, Mann-Whitney p = ${p.toFixed(3)}; statuses ${[...statuses].join(", ")}`,
  };
}

/** `verified` users (email, password) and `unverified` emails, one request each. */
export async function timingParity(agent, url, { verified, unverified }) {
  const unknown = (label, n) => Array.from({ length: n }, () => `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`);
  const wrong = `${PASSWORD}-wrong`;
  return [
    await compare("login with a wrong password", agent, url, "/v1/auth/login",
      verified.map((u) => ({ email: u.email, password: wrong })),
      unknown("nobody-login", verified.length).map((email) => ({ email, password: wrong }))),
    await compare("forgot-password", agent, url, "/v1/auth/forgot-password",
      verified.map((u) => ({ email: u.email })),
      unknown("nobody-forgot", verified.length).map((email) => ({ email }))),
    await compare("resend-verification", agent, url, "/v1/auth/resend-verification",
      unverified.map((email) => ({ email })),
      unknown("nobody-resend", unverified.length).map((email) => ({ email }))),
  ];
}

/** Registers `n` accounts and leaves them unverified (for resend-verification). */
export async function unverifiedEmails(agent, url, n) {
  const emails = [];
  for (let i = 0; i < n; i++) {
    const email = `unverified-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const answer = await send(agent, url, {
      method: "POST", path: "/v1/auth/register", headers: { "cf-connecting-ip": addresses.fresh() }, body: { email, password: PASSWORD },
    });
    if (answer.status !== 201) throw new Error(`register answered ${answer.status}`);
    emails.push(email);
  }
  return emails;
}
