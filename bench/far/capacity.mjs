/**
 * The capacity step of `npm run bench:far` (issue 27, item 4), on one service served through
 * bench/far/entry.ts: it counts, with D1's own `meta` read by the entry's wrappers,
 *
 * 1. **D1 writes per active user-hour** under `PROFILE`: `USERS` verified users each live
 *    `HOURS` active hours (per hour one refresh, `me` ×10, `AuthRpc.verifySession` ×5; the sessions
 *    list twice; a password sign-in at the start and, for every second user, another at hour 10: 1.5
 *    sign-ins per 20 active hours). Write transactions (D1 calls that wrote a row), rows written by
 *    table, rows read, D1 trips and object calls, all divided by the user-hours. Account creation is
 *    not in it (counted in 2).
 *    Then, for the cost model's sign-in mix: the write transactions of one whole sign-in by each
 *    method (its preparation and the user object's writes included), and the profile's figure with
 *    its password sign-ins replaced by that mix.
 * 2. **D1 bytes per account**: the growth of the database's tables (SQLite's `dbstat` on the
 *    service's persisted D1 file, read-only: every table's and index's pages, and their payload; the
 *    development mail outbox left out) over `ACCOUNTS` full accounts (register,
 *    verify, three sign-ins as three devices, one refresh each, one passkey), measured 0.5 s after
 *    the last change (`accountStaged`: staged activity still in D1) and again `DRAIN_WAIT_MS` later
 *    (`account`: after the user objects' alarms drained it, slice 8), and over `GUESTS` guests
 *    (one guest sign-up each); D1's `meta.size_after` beside it. Then **at scale**: the rows the
 *    `ACCOUNTS` accounts left in the tables kept past a day (every table but `TRANSIENT` and the
 *    outbox) copied `COPIES` times with fresh ids and keys (bench/far/scale.mjs), `ACCOUNTS × (COPIES
 *    + 1)` accounts of that shape in all, and the pages they added per copied account, by table: the
 *    figure without the few-pages granularity of `ACCOUNTS` accounts.
 *
 * The same command gives the after-figures once sessions move (docs/edge-sessions.md).
 *
 * @example
 * import { capacity } from "./capacity.mjs";
 * const figures = await capacity(agent, "http://127.0.0.1:8802", { log: console.log, persistTo: "/tmp/x/near", routes });
 * figures.perUserHour.d1Writes; figures.bytes.account.keptPerAccount; figures.bytes.atScale.account.keptPerAccount;
 */
import { readdirSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { addresses, login as loginWith, parse, prepareUsers as prepareUsersWith } from "../accounts.mjs";
import { send } from "../driver.mjs";
import { Passkey } from "../webauthn.mjs";
import { replicate } from "./scale.mjs";

/** The usage profile of the capacity step and of the cost model (bench/far/cost.mjs). */
export const PROFILE = {
  activeHoursPerUserMonth: 20,
  perActiveHour: { refresh: 1, me: 10, "verify-session": 5 },
  perUserMonth: { sessions: 2, signIns: 1.5 },
  /** How the month's sign-ins split by method (the cost model prices each with its own counts). */
  signInMix: { login: 0.4, code: 0.2, passkey: 0.2, "id-token": 0.2 },
  /** New guests per monthly active user and month (sign-ups; a guest's first session). */
  guestSignUpsPerUserMonth: 0.1,
  /** Accounts kept in D1 per monthly active user (the dormant ones stay stored). */
  accountsPerMonthlyActiveUser: 2,
};
const USERS = 4;
const HOURS = 20;
const ACCOUNTS = 30;
const GUESTS = 60;
/** Copies of the `ACCOUNTS` accounts' kept rows for the figure at scale: 30 × (99 + 1) = 3,000 accounts. */
const COPIES = 99;
const ORIGIN = "http://localhost:8790"; // bench/features.mjs's WEBAUTHN_ORIGINS
/**
 * How long to let the user objects' alarms drain the activity rows a change staged in D1:
 * ACTIVITY_DRAIN_DELAY_MS (5 s, src/activity/object-log.ts; docs/edge-sessions.md "Slice 8") and a margin.
 */
const DRAIN_WAIT_MS = 8_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const bearer = (token) => ({ authorization: `Bearer ${token}` });

/**
 * The user agent every request of this step sends: a browser's (~110 characters), so the bytes a
 * session or an event keeps of its client are counted as in production (Node's http sends none).
 */
const BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/** A password login and verified users, as the shared helpers make them, from that browser. */
const login = (agent, url, user, ip) => loginWith(agent, url, user, ip, { "user-agent": BROWSER_UA });
const prepareUsers = (agent, url, count, label) => prepareUsersWith(agent, url, count, label, { "user-agent": BROWSER_UA });

async function ok(agent, url, request, status = 200) {
  const res = await send(agent, url, { ...request, headers: { "user-agent": BROWSER_UA, ...request.headers } });
  if (res.status !== status) throw new Error(`${request.method ?? "GET"} ${request.path}: ${res.status} ${res.text.slice(0, 160)}`);
  return parse(res);
}

async function totals(agent, url, reset = false) {
  return ok(agent, url, { method: reset ? "DELETE" : "GET", path: "/__bench/totals" });
}

/** One user's `HOURS` active hours under PROFILE. */
async function liveHours(agent, url, user, index) {
  const ip = addresses.fresh();
  let pair = await login(agent, url, user, ip);
  for (let hour = 0; hour < HOURS; hour++) {
    if (hour === HOURS / 2 && index % 2 === 0) pair = await login(agent, url, user, ip);
    if (hour === 0 || hour === HOURS / 2) await ok(agent, url, { path: "/v1/auth/sessions", headers: { "cf-connecting-ip": ip, ...bearer(pair.accessToken) } });
    pair = await ok(agent, url, { method: "POST", path: "/v1/auth/refresh", headers: { "cf-connecting-ip": ip }, body: { refreshToken: pair.refreshToken } });
    for (let i = 0; i < PROFILE.perActiveHour.me; i++) await ok(agent, url, { path: "/v1/auth/me", headers: { "cf-connecting-ip": ip, ...bearer(pair.accessToken) } });
    for (let i = 0; i < PROFILE.perActiveHour["verify-session"]; i++) {
      const { session } = await ok(agent, url, { method: "POST", path: "/__bench/verify-session", body: { accessToken: pair.accessToken } });
      if (session?.userId !== user.id) throw new Error("verify-session refused a live session");
    }
  }
}

const per = (count, n) => Object.fromEntries(Object.entries(count).map(([k, v]) => [k, typeof v === "number" ? v / n : per(v, n)]));

/** The D1 file under a wrangler persistence directory. */
function d1File(persistTo) {
  const dir = `${persistTo}/v3/d1/miniflare-D1DatabaseObject`;
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (!file) throw new Error(`no D1 file in ${dir}`);
  return `${dir}/${file}`;
}

/** D1's size_after (through the service) and, per table, pages (with its indexes), payload and rows (read-only, from the file). */
async function measure(agent, url, persistTo) {
  const { sizeAfter } = await ok(agent, url, { path: "/__bench/size" });
  const db = new DatabaseSync(d1File(persistTo), { readOnly: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '\\_cf\\_%' escape '\\' and name <> 'd1_migrations'").all().map((r) => r.name);
    const pages = db.prepare("select coalesce(m.tbl_name, s.name) as tbl, sum(s.pgsize) as bytes, sum(s.payload) as payload from dbstat s left join sqlite_master m on m.name = s.name group by tbl").all();
    const byTable = Object.fromEntries(tables.map((t) => {
      const p = pages.find((row) => row.tbl === t);
      return [t, { rows: db.prepare(`select count(*) as n from "${t}"`).get().n, bytes: p?.bytes ?? 0, payload: p?.payload ?? 0 }];
    }));
    return { sizeAfter, tables: byTable };
  } finally {
    db.close();
  }
}

/** Sums bytes and rows over the tables, the development-only ones left out. */
function tableSum(size) {
  const tables = Object.fromEntries(Object.entries(size.tables).filter(([name]) => name !== "mail_outbox"));
  return { tables, bytes: Object.values(tables).reduce((s, t) => s + t.bytes, 0), payload: Object.values(tables).reduce((s, t) => s + t.payload, 0) };
}

/** Tables whose rows go within a day (spent or expired tokens, codes, challenges, counters: the daily clean-up). */
const TRANSIENT = new Set(["counters", "one_time_tokens", "email_codes", "webauthn_challenges", "oauth_states", "oauth_codes"]);

function growth(before, after, n) {
  const a = tableSum(after);
  const b = tableSum(before);
  const byTable = Object.fromEntries(
    Object.keys(a.tables).map((t) => {
      const rows = a.tables[t].rows - (b.tables[t]?.rows ?? 0);
      const bytes = a.tables[t].bytes - (b.tables[t]?.bytes ?? 0);
      const payload = a.tables[t].payload - (b.tables[t]?.payload ?? 0);
      return [t, { rowsPer: rows / n, bytesPer: bytes / n, payloadPer: payload / n, payloadPerRow: rows > 0 ? payload / rows : null }];
    }).filter(([, v]) => v.rowsPer !== 0 || v.bytesPer !== 0),
  );
  const kept = Object.entries(byTable).filter(([t]) => !TRANSIENT.has(t)).reduce((sum, [, v]) => sum + v.bytesPer, 0);
  return { perAccount: (a.bytes - b.bytes) / n, keptPerAccount: kept, payloadPerAccount: (a.payload - b.payload) / n, sizeAfterPerAccount: (after.sizeAfter - before.sizeAfter) / n, byTable };
}

/**
 * The bytes at scale: `accounts`' rows in the kept tables they grew (`account`, their growth) copied
 * `COPIES` times (bench/far/scale.mjs), measured against `before`. Returns `{ accounts (of this shape
 * in all), copies, replicated, rowsPerAccount, inserted, seconds, databaseAfter, account: growth per
 * copied account, mismatch }`: `mismatch` names the tables where the rows copied per account are
 * not the rows the accounts grew (rows written after their measurement), null when none.
 */
async function bytesAtScale(agent, url, persistTo, accounts, account, before, log) {
  const started = Date.now();
  const kept = Object.keys(account.byTable).filter((t) => !TRANSIENT.has(t) && account.byTable[t].rowsPer > 0);
  log(`capacity: bytes at scale, the ${ACCOUNTS} accounts' rows in ${kept.join(", ")} copied ×${COPIES}`);
  const copied = await replicate(agent, url, d1File(persistTo), accounts.map((a) => a.id), kept, COPIES);
  const differ = kept.filter((t) => Math.abs(copied.rowsPerAccount[t] - account.byTable[t].rowsPer) > 1e-9);
  const mismatch = differ.map((t) => `${t} ${copied.rowsPerAccount[t]} rows per account copied, ${account.byTable[t].rowsPer} grew`).join("; ") || null;
  if (mismatch) log(`capacity: at scale, WARNING: the rows copied are not the rows the accounts grew: ${mismatch}`);
  const after = await measure(agent, url, persistTo);
  const atScale = { accounts: ACCOUNTS * (COPIES + 1), ...copied, mismatch, seconds: (Date.now() - started) / 1000, databaseAfter: after.sizeAfter, account: growth(before, after, copied.replicated) };
  const byTable = Object.entries(atScale.account.byTable).map(([t, v]) => `${t} ${v.bytesPer.toFixed(0)} (${account.byTable[t]?.bytesPer.toFixed(0) ?? "–"})`).join(", ");
  log(`capacity: at scale ${atScale.accounts} accounts, B of pages per account (at ${ACCOUNTS}): kept ${atScale.account.keptPerAccount.toFixed(0)} (${account.keptPerAccount.toFixed(0)}); ${byTable}; ${atScale.seconds.toFixed(1)} s`);
  return atScale;
}

async function fullAccount(agent, url, user) {
  const pairs = [];
  for (let device = 0; device < 3; device++) pairs.push(await login(agent, url, user, addresses.fresh()));
  for (const pair of pairs) await ok(agent, url, { method: "POST", path: "/v1/auth/refresh", headers: { "cf-connecting-ip": addresses.fresh() }, body: { refreshToken: pair.refreshToken } });
  const headers = { "cf-connecting-ip": addresses.fresh(), ...bearer(pairs[0].accessToken) };
  const { challengeId, options } = await ok(agent, url, { method: "POST", path: "/v1/auth/passkeys/register/options", headers });
  await ok(agent, url, { method: "POST", path: "/v1/auth/passkeys/register", headers, body: { challengeId, response: new Passkey(ORIGIN).register(options), name: "bench" } }, 201);
}

async function each(items, fn, width = 4) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** The sign-in methods of PROFILE.signInMix, counted whole by `signInMix`. */
const MIX_SAMPLES = 4;

/**
 * D1 write transactions of one whole sign-in by each method of PROFILE.signInMix, over
 * `MIX_SAMPLES` sign-ins each (bench/far/routes.mjs's prepared routes): its preparation (the code's
 * mail, the passkey's options: they write their single-use row), the sign-in, and the user object's
 * writes after the answer. Returns `{ method: { writes, rowsWritten, writtenByTable } }`, per sign-in.
 */
async function signInMix(agent, url, routes) {
  const result = {};
  for (const method of Object.keys(PROFILE.signInMix)) {
    const route = routes[method];
    // Once before counting: a route's first preparation makes its accounts (the code's are signed up by
    // a first code), which a run with the latency step has made already; only sign-ins are counted.
    await route.prepare(MIX_SAMPLES);
    await totals(agent, url, true);
    await route.prepare(MIX_SAMPLES);
    for (let i = 0; i < MIX_SAMPLES; i++) {
      const res = await send(agent, url, route.request());
      if (!route.check(res)) throw new Error(`sign-in mix, ${method}: ${res.status} ${res.text.slice(0, 160)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // the objects' writes after the answers, and mail
    const { totals: t } = await totals(agent, url);
    result[method] = { writes: t.d1Writes / MIX_SAMPLES, rowsWritten: t.rowsWritten / MIX_SAMPLES, writtenByTable: per(t.writtenByTable, MIX_SAMPLES) };
  }
  return result;
}

/** Runs both counts on the service at `url`; returns the figures (see the module comment). */
export async function capacity(agent, url, { log, persistTo, routes }) {
  log(`capacity: ${USERS} users × ${HOURS} active hours under the usage profile`);
  const users = await prepareUsers(agent, url, USERS, "profile");
  // The sign-ups' staged rows (and the latency step's sign-outs') drained before counting: account creation is not counted here.
  await sleep(DRAIN_WAIT_MS);
  await totals(agent, url, true);
  await Promise.all(users.map((user, i) => liveHours(agent, url, user, i)));
  const { totals: counted, metaSeen } = await totals(agent, url);
  if (!metaSeen) throw new Error("the wrappers saw no D1 meta: rows cannot be counted (see bench/far/hops.ts tapMeta)");
  const userHours = USERS * HOURS;
  const { sizeAfter: _, ...counts } = counted;
  const perUserHour = per(counts, userHours);

  log(`capacity: D1 writes of whole sign-ins by method (${MIX_SAMPLES} each)`);
  const mix = await signInMix(agent, url, routes);
  // The profile's sign-ins were password logins: swap them for the mix's methods, everything else as counted.
  const signInsPerUserHour = (USERS + USERS / 2) / userHours;
  const mixed = perUserHour.d1Writes + signInsPerUserHour * (Object.entries(PROFILE.signInMix).reduce((sum, [m, share]) => sum + share * mix[m].writes, 0) - mix.login.writes);

  log(`capacity: bytes of ${ACCOUNTS} full accounts and ${GUESTS} guests`);
  const start = await measure(agent, url, persistTo);
  const accounts = await prepareUsers(agent, url, ACCOUNTS, "bytes");
  await each(accounts, (user) => fullAccount(agent, url, user));
  await sleep(500);
  // Right after the changes: the passkey's `passkey_added` (and whatever else was staged) still in D1.
  const staged = await measure(agent, url, persistTo);
  await sleep(DRAIN_WAIT_MS);
  const afterAccounts = await measure(agent, url, persistTo);
  await each(Array.from({ length: GUESTS }), () => ok(agent, url, { method: "POST", path: "/v1/auth/guest", headers: { "cf-connecting-ip": addresses.fresh() } }), 8);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const afterGuests = await measure(agent, url, persistTo);
  const account = growth(start, afterAccounts, ACCOUNTS);
  const accountStaged = growth(start, staged, ACCOUNTS);
  log(`capacity: bytes per account kept past a day ${accountStaged.keptPerAccount.toFixed(0)} B 0.5 s after the last change (activity ${accountStaged.byTable.activity?.bytesPer.toFixed(0) ?? 0} B), ${account.keptPerAccount.toFixed(0)} B after the drain delay (activity ${account.byTable.activity?.bytesPer.toFixed(0) ?? 0} B)`);
  const atScale = await bytesAtScale(agent, url, persistTo, accounts, account, afterGuests, log);
  return {
    profile: { users: USERS, hours: HOURS, userHours, signIns: USERS + USERS / 2, perActiveHour: PROFILE.perActiveHour, sessionsListsPerUser: 2 },
    counted,
    perUserHour,
    signInMix: { byMethod: mix, share: PROFILE.signInMix, d1WritesPerUserHour: mixed },
    bytes: { accounts: ACCOUNTS, guests: GUESTS, account, accountStaged, drainWaitMs: DRAIN_WAIT_MS, guest: growth(afterAccounts, afterGuests, GUESTS), databaseAfter: afterGuests.sizeAfter, atScale },
  };
}
