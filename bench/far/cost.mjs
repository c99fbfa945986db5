/**
 * The monthly bill model of issue 27 (item 5), computed by `npm run bench:far` from what it counted
 * (per route, on the near service: D1 rows read and written, object calls; the capacity step's D1
 * bytes per account) and the Worker CPU per route that `npm run bench` measured, under the usage
 * profile of bench/far/capacity.mjs (`PROFILE`), at Cloudflare's public prices (Workers Paid), beside
 * what Supabase, Clerk, Cognito and Auth0 list for the same monthly active users.
 *
 * Prices and peers' list prices are from /work/shared/research/platform.md (December 2026; vendor
 * pages change: re-check before quoting). Where that file is silent the figure is marked "assumed".
 *
 * @example
 * import { costModel } from "./cost.mjs";
 * const cost = costModel(run);   // run.latency and run.capacity from bench/far/run.mjs
 * cost.rows[0]; // { mau: 10000, total: 5.0, items: {...} }
 */
import { PROFILE } from "./capacity.mjs";

/**
 * Worker CPU per request, ms: the runtime workerd's CPU per request in BENCHMARKS.md's latest full
 * `npm run bench` (512901f, warm pool). An upper bound for the Worker: locally that process also runs
 * D1 and the objects. verify-session is priced as `me` (the same check, without the HTTP stack).
 */
export const CPU_MS = { me: 1.89, refresh: 3.39, sessions: 3.12, "verify-session": 1.89, login: 26.67, code: 6.98, passkey: 7.27, "id-token": 5.61, guest: 3.06 };

export const PRICES = {
  workers: { base: 5, requestsIncluded: 10e6, perMillionRequests: 0.3, cpuMsIncluded: 30e6, perMillionCpuMs: 0.02 },
  d1: { readIncluded: 25e9, perMillionRead: 0.001, writtenIncluded: 50e6, perMillionWritten: 1.0, gbIncluded: 5, perGbMonth: 0.75 },
  // Durable Objects: requests as platform.md; duration's 400,000 GB-s included and 128 MB per object: assumed (Cloudflare's page).
  durableObjects: { requestsIncluded: 1e6, perMillionRequests: 0.15, gbSecondsIncluded: 400e3, perMillionGbSeconds: 12.5, memoryGb: 0.128 },
};

/**
 * The objects' own SQLite rows per call, priced as D1's rows, and the wall time a call keeps its object
 * active (ms), read from src/ at issue 27's slice 3. A limiter call writes its hit. A user-object call,
 * by route: `me` and `verifySession` answer from memory (after a restart, 2 rows read from the token
 * store); a vouched refresh reads its token, session and profile and writes the rotation (2), the
 * session's expiry and its use; the sessions list reads the held sessions and waits on its D1 read (a
 * far user: 155 ms); a sign-in started in the object (slice 3) reads its guard, epochs and held
 * sessions, writes the session, its token, its mark and profile, the outbox entry (then deletes it)
 * and the alarm, and stays active while the entry's D1 batch is in flight (a far user: 155 ms).
 * Routes not listed make no user-object call.
 */
const LIMITER = { read: 0, written: 1, ms: 2 };
/** A passkey sign-in's challenge object (slice 6): reads its mark, writes it and its alarm; the alarm later deletes both. */
const CHALLENGE_OBJECT = { read: 1, written: 3, ms: 1 };
const USER_OBJECT = {
  me: { read: 0, written: 0, ms: 1 },
  "verify-session": { read: 0, written: 0, ms: 1 },
  refresh: { read: 3, written: 4, ms: 2 },
  sessions: { read: 3, written: 0, ms: 155 },
  signIn: { read: 6, written: 7, ms: 155 },
};
/**
 * A sign-in's call to the account's gate of checks in flight (src/rate-limit/attempt-gate.ts: a
 * password's since slice 4, a passkey's and a code's since slice 6): memory only, no SQLite row. A
 * sign-in route's user-object calls past its first (the session's) are these.
 */
const GATE = { read: 0, written: 0, ms: 1 };
/**
 * A code or passkey sign-in starts with one more request (send the code / fetch the options) and a
 * limiter call: the code's writes ~2 D1 rows (assumed); the passkey options write nothing since slice 6
 * (the challenge is derived from its id, src/passkeys/login-challenge.ts).
 */
const SIGN_IN_PREP = { code: { requests: 1, d1Written: 2, limiter: 1 }, passkey: { requests: 1, d1Written: 0, limiter: 1 } };

export const PEERS = [
  { name: "Supabase Pro", price: (mau) => 25 + Math.max(0, mau - 100e3) * 0.00325, note: "$25 with 100 k MAU, then $0.00325" },
  { name: "Clerk Pro", price: (mau) => 25 + Math.max(0, mau - 50e3) * 0.02, note: "$0.02 per retained user past 50 k (+ $25 base, assumed)" },
  { name: "Cognito Lite", price: (mau) => Math.max(0, mau - 10e3) * 0.0055, note: "$0.0055 past 10 k (flat; AWS's lower tiers past 100 k not applied)" },
  { name: "Auth0", price: () => null, note: "by quote past the small plans" },
];

const over = (used, included, perMillion) => (Math.max(0, used - included) / 1e6) * perMillion;

/** Calls per user-month by route, from PROFILE. */
export function callsPerUserMonth() {
  const hours = PROFILE.activeHoursPerUserMonth;
  const calls = Object.fromEntries(Object.entries(PROFILE.perActiveHour).map(([route, n]) => [route, n * hours]));
  calls.sessions = PROFILE.perUserMonth.sessions;
  for (const [route, share] of Object.entries(PROFILE.signInMix)) calls[route] = PROFILE.perUserMonth.signIns * share;
  calls.guest = PROFILE.guestSignUpsPerUserMonth;
  return calls;
}

/** Usage per user-month from the counted per-route figures (near placement). */
function usagePerUser(latency) {
  const u = { requests: 0, cpuMs: 0, d1Read: 0, d1Written: 0, doRequests: 0, doGbSeconds: 0, doRowsRead: 0, doRowsWritten: 0 };
  for (const [route, n] of Object.entries(callsPerUserMonth())) {
    const r = latency[route]?.near;
    if (!r) continue;
    const prep = SIGN_IN_PREP[route] ?? { requests: 0, d1Written: 0, limiter: 0 };
    // AuthRpc over a service binding: billed for CPU, not as a request (assumed from Cloudflare's pricing page).
    u.requests += n * ((route === "verify-session" ? 0 : 1) + prep.requests);
    u.cpuMs += n * CPU_MS[route];
    u.d1Read += n * r.rowsRead;
    u.d1Written += n * (r.rowsWritten + prep.d1Written);
    const limiter = r.limiter + prep.limiter;
    const challenge = r.challengeObject ?? 0;
    u.doRequests += n * (limiter + r.userObject + challenge);
    const own = USER_OBJECT[route] ?? USER_OBJECT.signIn;
    const gate = route in USER_OBJECT ? 0 : Math.max(0, r.userObject - 1);
    const calls = r.userObject - gate;
    u.doGbSeconds += n * PRICES.durableObjects.memoryGb * ((limiter * LIMITER.ms + calls * own.ms + gate * GATE.ms + challenge * CHALLENGE_OBJECT.ms) / 1000);
    u.doRowsRead += n * (limiter * LIMITER.read + calls * own.read + challenge * CHALLENGE_OBJECT.read);
    u.doRowsWritten += n * (limiter * LIMITER.written + calls * own.written + challenge * CHALLENGE_OBJECT.written);
  }
  return u;
}

/** The bill for 10 k, 100 k and 1 M monthly active users, with its line items, and the peers' list prices. */
export function costModel(run) {
  if (!run.latency) return null;
  const u = usagePerUser(run.latency);
  const bytesPerAccount = run.capacity?.bytes.account.keptPerAccount ?? 5500;
  const bytesPerGuest = run.capacity?.bytes.guest.perAccount ?? 500;
  const { workers: w, d1, durableObjects: dob } = PRICES;
  const rows = [10e3, 100e3, 1e6].map((mau) => {
    const storageGb = (mau * (PROFILE.accountsPerMonthlyActiveUser * bytesPerAccount + 12 * PROFILE.guestSignUpsPerUserMonth * bytesPerGuest)) / 1e9;
    const items = {
      "Workers (base)": w.base,
      "Workers requests": over(mau * u.requests, w.requestsIncluded, w.perMillionRequests),
      "Workers CPU": over(mau * u.cpuMs, w.cpuMsIncluded, w.perMillionCpuMs),
      "D1 rows read": over(mau * u.d1Read, d1.readIncluded, d1.perMillionRead),
      "D1 rows written": over(mau * u.d1Written, d1.writtenIncluded, d1.perMillionWritten),
      "D1 storage": Math.max(0, storageGb - d1.gbIncluded) * d1.perGbMonth,
      "DO requests": over(mau * u.doRequests, dob.requestsIncluded, dob.perMillionRequests),
      "DO duration": over(mau * u.doGbSeconds, dob.gbSecondsIncluded, dob.perMillionGbSeconds),
      "DO SQLite rows": over(mau * u.doRowsWritten, d1.writtenIncluded, d1.perMillionWritten) + over(mau * u.doRowsRead, d1.readIncluded, d1.perMillionRead),
    };
    const total = Object.values(items).reduce((s, v) => s + v, 0);
    return { mau, storageGb, items, total, peers: PEERS.map((p) => ({ name: p.name, price: p.price(mau) })) };
  });
  return { perUserMonth: u, calls: callsPerUserMonth(), bytesPerAccount, bytesPerGuest, rows, peers: PEERS.map(({ name, note }) => ({ name, note })), profile: PROFILE };
}
