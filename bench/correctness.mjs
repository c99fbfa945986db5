/**
 * Correctness under load, checked against the running service:
 * - refresh storm: many clients present the same refresh tokens at once. Inside the reuse window
 *   every winner and loser must get the SAME successor (one rotation per token); after the window,
 *   presenting a rotated token must answer 401 every time and revoke the whole session (its
 *   successor and access token stop working too).
 * - rate-limit storms: concurrent requests from one address; exactly the configured limit passes
 *   and every other answer is a 429 with Retry-After. The per-account login throttle is stormed
 *   from many addresses, since it must hold whatever the address.
 * Each check returns { name, pass, detail }; nothing here throws on a failed expectation.
 *
 * @example
 * import { refreshStorm, rateLimitStorms } from "./correctness.mjs";
 * const checks = [...(await refreshStorm(agent, url, pairs, { perToken: 8, windowMs: 1000 })), ...(await rateLimitStorms(agent, url, users))];
 */
import { PASSWORD, addresses, login, parse } from "./accounts.mjs";
import { send } from "./driver.mjs";

const count = (items, predicate) => items.filter(predicate).length;
const tally = (responses) => responses.reduce((t, r) => ({ ...t, [r.status]: (t[r.status] ?? 0) + 1 }), {});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function refreshCall(agent, url, refreshToken) {
  return send(agent, url, { method: "POST", path: "/v1/auth/refresh", headers: { "cf-connecting-ip": addresses.fresh() }, body: { refreshToken } });
}

/**
 * `pairs` are live sessions (one per user). Every token is presented `perToken` times at once, all
 * tokens together; then again after the reuse window.
 */
export async function refreshStorm(agent, url, pairs, { perToken, windowMs }) {
  const checks = [];
  const storm = await Promise.all(
    pairs.map(async (pair) => ({ pair, answers: await Promise.all(Array.from({ length: perToken }, () => refreshCall(agent, url, pair.refreshToken))) })),
  );
  let accepted = 0;
  let rejected = 0;
  const successorCounts = [];
  for (const { pair, answers } of storm) {
    const ok = answers.filter((a) => a.status === 200).map(parse);
    accepted += ok.length;
    rejected += answers.length - ok.length;
    const successors = new Set(ok.map((b) => b.refreshToken));
    successorCounts.push(successors.size);
    pair.successor = ok[0];
    pair.sameAccessToken = new Set(ok.map((b) => b.accessToken)).size === 1;
    pair.unexpected = answers.filter((a) => a.status !== 200 && a.status !== 401).map((a) => a.status);
  }
  checks.push({
    name: `refresh storm: ${pairs.length} tokens × ${perToken} concurrent presentations → one successor per token`,
    pass: successorCounts.every((n) => n === 1) && storm.every(({ pair }) => pair.sameAccessToken && pair.successor?.refreshToken !== pair.refreshToken),
    detail: `distinct successors per token: [${successorCounts.join(",")}]; ${accepted} answers 200 (the same pair), ${rejected} not`,
  });
  checks.push({
    name: "refresh storm: no 5xx or unexpected status",
    pass: storm.every(({ pair }) => pair.unexpected.length === 0),
    detail: `statuses: ${JSON.stringify(tally(storm.flatMap((s) => s.answers)))}`,
  });

  await sleep(windowMs + 500);
  const replay = await Promise.all(storm.map(({ pair }) => Promise.all(Array.from({ length: perToken }, () => refreshCall(agent, url, pair.refreshToken)))));
  const replayed = replay.flat();
  checks.push({
    name: `after the ${windowMs / 1000} s reuse window: every rotated token presented again (${replayed.length}×, concurrently) → 401`,
    pass: replayed.every((r) => r.status === 401),
    detail: `statuses: ${JSON.stringify(tally(replayed))}`,
  });
  const rotated = storm.filter(({ pair }) => pair.successor);
  const successorsAfter = await Promise.all(rotated.map(({ pair }) => refreshCall(agent, url, pair.successor.refreshToken)));
  const meAfter = await Promise.all(
    rotated.map(({ pair }) => send(agent, url, { path: "/v1/auth/me", headers: { authorization: `Bearer ${pair.successor.accessToken}` } })),
  );
  checks.push({
    name: "reuse revokes the family: the successor refresh token and its access token → 401",
    pass: rotated.length === storm.length && successorsAfter.every((r) => r.status === 401) && meAfter.every((r) => r.status === 401),
    detail: `refresh: ${JSON.stringify(tally(successorsAfter))}, me: ${JSON.stringify(tally(meAfter))}`,
  });
  return checks;
}

/** Sends `n` requests at once and checks exactly `limit` pass (`passStatus`) and the rest are 429s. */
async function storm(name, n, limit, passStatus, makeCall) {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => makeCall(i)));
  const passed = count(answers, (a) => a.status === passStatus);
  const limited = answers.filter((a) => a.status === 429);
  const retryAfterOk = limited.every((a) => Number(a.headers["retry-after"]) >= 1 && parse(a).error === "rate_limited");
  return {
    name: `${name}: ${n} concurrent → exactly ${limit} pass`,
    pass: passed === limit && limited.length === n - limit && retryAfterOk,
    detail: `statuses: ${JSON.stringify(tally(answers))}${retryAfterOk ? "" : "; a 429 lacked Retry-After or the rate_limited code"}`,
  };
}

/**
 * Against a service with the default limits (guest 5/h, login 5/min, refresh 5/min, sessions
 * 60/min, 10 failed logins per account per 15 min). `users` are verified accounts: users[0] for
 * the login storm, users[1] for the sessions storm, users[2] for the per-account throttle.
 */
export async function rateLimitStorms(agent, url, users, limits) {
  const checks = [];
  const post = (path, ip, body, headers = {}) => send(agent, url, { method: "POST", path, headers: { "cf-connecting-ip": ip, ...headers }, body });

  const guestIp = addresses.fresh();
  checks.push(await storm("guest storm from one address", 4 * limits.guest, limits.guest, 200, () => post("/v1/auth/guest", guestIp)));

  const loginIp = addresses.fresh();
  checks.push(
    await storm("login storm from one address (correct password)", 4 * limits.login, limits.login, 200, () =>
      post("/v1/auth/login", loginIp, { email: users[0].email, password: users[0].password }),
    ),
  );

  // Distinct valid tokens, made from fresh addresses, all presented from one address.
  const guests = [];
  for (let i = 0; i < 4 * limits.refresh; i++) guests.push(parse(await post("/v1/auth/guest", addresses.fresh())));
  const refreshIp = addresses.fresh();
  checks.push(
    await storm("refresh storm from one address (distinct valid tokens)", guests.length, limits.refresh, 200, (i) =>
      post("/v1/auth/refresh", refreshIp, { refreshToken: guests[i].refreshToken }),
    ),
  );

  const reader = await login(agent, url, users[1], addresses.fresh());
  const sessionsIp = addresses.fresh();
  checks.push(
    await storm("sessions-list storm from one address", limits.sessions + 20, limits.sessions, 200, () =>
      send(agent, url, { path: "/v1/auth/sessions", headers: { "cf-connecting-ip": sessionsIp, authorization: `Bearer ${reader.accessToken}` } }),
    ),
  );

  checks.push(
    await storm("failed-login storm on one account from many addresses", 2 * limits.accountFailures, limits.accountFailures, 401, () =>
      post("/v1/auth/login", addresses.fresh(), { email: users[2].email, password: `${PASSWORD}-wrong` }),
    ),
  );
  return checks;
}
