/**
 * The revocation races (issue 27 item 3; docs/edge-sessions.md, "Instant revocation"): an end of a
 * session sent together with requests that would keep it, or start a new one, each race run
 * `ROUNDS` times (./race.ts). After every request of a round has answered, the matrix's checker
 * (`expectEnded`, ./matrix.ts) shows that `me`, every refresh door with any token the session had
 * or got, `AuthRpc.verifySession` and the sessions list of a survivor refuse or omit what had to end.
 *
 * 1. A revocation (each distinct path: by refresh token, sign-out by token, sign-out of the current
 *    session, delete by id, revoke-all) and two refreshes of the same session at two doors: at most
 *    one new pair is issued, and if a refresh won, its pair is dead too.
 * 2. An admin's disable and two password sign-ins and a refresh of the same account: no session of
 *    the account survives, so a sign-in that answered 200 holds a dead session.
 * 3. A password change with `revokeOtherSessions` racing a refresh of another session; the
 *    account's deletion racing refreshes of its sessions; and the two ends written in D1 alone, not
 *    through the user's object (a password reset, the 6th sign-in's eviction of the oldest session),
 *    racing refreshes that the object's compare-and-set on the session row must then refuse.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, expectError, json } from "../helpers";
import { expectEnded, fromMail, held, pairOf, sessionsOf } from "./matrix";
import type { Held, Outcome, Way } from "./matrix";
import { RACE_TIMEOUT_MS, after, expectBothLive, onePair, staggerOf, orderOf, raceLogin, raceRefresh, readsDuringRace, rounds, stateOf } from "./race";

/**
 * The staggers (D1 round trips; ./race.ts `staggerOf`, positive: the end goes later), chosen from
 * runs on a 2-core machine so that the end lands before, between and after the racers' steps.
 */
const REFRESH_OFFSETS = [0, -2, -1, 1, 2] as const;
/** A sign-in reads the account, runs PBKDF2, then writes its batch: the disable lands in each part. */
const LOGIN_OFFSETS = [0, 1, 2, 3, 4] as const;
/** A password change and a deletion check the password (PBKDF2) before they end anything. */
const PASSWORD_OFFSETS = [0, -1, -2, -3, -4] as const;

/** The ends of one session `a` (b kept unless said), one per distinct code path of the service. */
const revocations: Way[] = [
  {
    name: "revoke by refresh token (POST /v1/auth/revoke)",
    end: async ({ a, b }) => {
      expect((await call("/v1/auth/revoke", { body: { refreshToken: a.refreshToken } })).status).toBe(204);
      return { ended: [a], survivor: b! };
    },
  },
  {
    name: "sign-out with the refresh token, document 000 (POST /auth/signout)",
    end: async ({ a, b }) => {
      expect((await call("/auth/signout", { token: a.accessToken, body: { refresh_token: a.refreshToken } })).status).toBe(204);
      return { ended: [a], survivor: b! };
    },
  },
  {
    name: "sign-out of the current session, document 001 (POST /auth/signout)",
    end: async ({ a, b }) => {
      const response = await call("/auth/signout", { token: a.accessToken, body: {} });
      expect(response.status).toBe(200);
      return { ended: [a], survivor: b! };
    },
  },
  {
    name: "delete by id from another session (DELETE /v1/auth/sessions/:sessionId)",
    end: async ({ a, b }) => {
      expect((await call(`/v1/auth/sessions/${a.sessionId}`, { method: "DELETE", token: b!.accessToken })).status).toBe(204);
      return { ended: [a], survivor: b! };
    },
  },
  {
    name: "revoke-all from another session (POST /v1/auth/revoke-all)",
    end: async ({ a, b }) => {
      expect((await call("/v1/auth/revoke-all", { method: "POST", token: b!.accessToken })).status).toBe(204);
      return { ended: [a, b!] };
    },
  },
];

describe("a revocation racing a refresh of the same session", () => {
  for (const way of revocations) {
    it(
      way.name,
      async () => {
        await rounds(async (i) => {
          const ctx = await sessionsOf(stateOf(i), 2, "race-rv");
          const { a, b } = pairOf(ctx);
          await expectBothLive([a, b]);
          const wait = staggerOf(i, REFRESH_OFFSETS);
          const [outcome, v1, doc001] = await Promise.all([
            after(wait.end, () => way.end(ctx)),
            after(wait.racers, () => raceRefresh(a, "v1")),
            after(wait.racers, () => raceRefresh(a, "001")),
            readsDuringRace(a),
          ]);
          const won = onePair([v1, doc001]);
          await expectEnded({ ...outcome, ended: [...outcome.ended, ...won] }, orderOf(i));
        });
      },
      RACE_TIMEOUT_MS,
    );
  }
});

describe("an admin's disable racing sign-ins and a refresh of the same account", () => {
  it(
    "no session survives the disable: every sign-in that answered 200 holds a dead session",
    async () => {
      await rounds(async (i) => {
        const ctx = await sessionsOf(stateOf(i), 2, "race-dis");
        const { account, a, b } = pairOf(ctx);
        await expectBothLive([a, b]);
        const disabled = { status: 403, error: "account_disabled" };
        const wait = staggerOf(i, LOGIN_OFFSETS);
        const [response, first, second, refreshed] = await Promise.all([
          after(wait.end, () => adminCall(`/users/${account.userId}/disable`, { method: "POST" })),
          raceLogin(account, disabled),
          raceLogin(account, disabled),
          raceRefresh(a, "v1"),
          readsDuringRace(b),
        ]);
        expect(response.status).toBe(200);
        expect((await json(response)).user.disabled).toBe(true);
        const started = [first, second].filter((s): s is Held => s !== null);
        await expectEnded({ ended: [a, b, ...onePair([refreshed]), ...started] }, orderOf(i));
        // And the account stays shut: the right password now gets 403.
        await expectError(await call("/v1/auth/login", { body: { email: account.email, password: account.password } }), 403, "account_disabled");
      });
    },
    RACE_TIMEOUT_MS,
  );
});

describe("more ends racing refreshes", () => {
  it(
    "a password change with revokeOtherSessions: the other session and any pair it got are dead, the caller's lives",
    async () => {
      await rounds(async (i) => {
        const ctx = await sessionsOf(stateOf(i), 2, "race-pw");
        const { a, b } = pairOf(ctx);
        await expectBothLive([a, b]);
        const wait = staggerOf(i, PASSWORD_OFFSETS);
        const body = { currentPassword: PASSWORD, newPassword: `copper-meadow-signal-${i}x`, revokeOtherSessions: true };
        const [response, v1, doc000] = await Promise.all([
          call("/v1/auth/change-password", { token: b.accessToken, body }),
          after(wait.racers, () => raceRefresh(a, "v1")),
          after(wait.racers, () => raceRefresh(a, "000")),
          readsDuringRace(a),
        ]);
        expect(response.status).toBe(200);
        const outcome: Outcome = { ended: [a, ...onePair([v1, doc000])], survivor: b };
        await expectEnded(outcome, orderOf(i));
      });
    },
    RACE_TIMEOUT_MS,
  );

  it(
    "the account's deletion (DELETE /v1/auth/me): no session, nor any pair a refresh got, survives",
    async () => {
      await rounds(async (i) => {
        const ctx = await sessionsOf(stateOf(i), 2, "race-del");
        const { a, b } = pairOf(ctx);
        await expectBothLive([a, b]);
        const wait = staggerOf(i, PASSWORD_OFFSETS);
        const [response, v1, doc001, own] = await Promise.all([
          call("/v1/auth/me", { method: "DELETE", token: b.accessToken, body: { password: PASSWORD } }),
          after(wait.racers, () => raceRefresh(a, "v1")),
          after(wait.racers, () => raceRefresh(a, "001")),
          after(wait.racers, () => raceRefresh(b, "v1")),
          readsDuringRace(a),
        ]);
        expect(response.status).toBe(204);
        await expectEnded({ ended: [a, b, ...onePair([v1, doc001]), ...onePair([own])] }, orderOf(i));
      });
    },
    RACE_TIMEOUT_MS,
  );

  it(
    "a password reset (its revocation written in D1 only): no session, nor any pair a refresh got, survives",
    async () => {
      await rounds(async (i) => {
        const ctx = await sessionsOf(stateOf(i), 2, "race-rs");
        const { account, a, b } = pairOf(ctx);
        expect((await call("/v1/auth/forgot-password", { body: { email: account.email } })).status).toBe(200);
        const token = await fromMail(account.email, /\/reset-password\?\S*token=([A-Za-z0-9_-]+)/);
        await expectBothLive([a, b]);
        const wait = staggerOf(i, PASSWORD_OFFSETS);
        const body = { email: account.email, token, newPassword: `amber-valley-beacon-${i}x` };
        const [response, v1, doc001, other] = await Promise.all([
          call("/v1/auth/reset-password", { body }),
          after(wait.racers, () => raceRefresh(a, "v1")),
          after(wait.racers, () => raceRefresh(a, "001")),
          after(wait.racers, () => raceRefresh(b, "000")),
          readsDuringRace(b),
        ]);
        expect(response.status).toBe(200);
        await expectEnded({ ended: [a, b, ...onePair([v1, doc001]), ...onePair([other])] }, orderOf(i));
      });
    },
    RACE_TIMEOUT_MS,
  );

  it(
    "the 6th sign-in (its eviction written in D1 only) racing refreshes of the oldest session: it and its new pair end",
    async () => {
      await rounds(async (i) => {
        // MAX_SESSIONS_PER_USER = 5: a (the oldest), b and three more are live before the 6th.
        const ctx = await sessionsOf(stateOf(i), 5, "race-6th");
        const { account, a, b } = pairOf(ctx);
        await expectBothLive([a, b]);
        const wait = staggerOf(i, PASSWORD_OFFSETS);
        const [sixth, v1, doc001] = await Promise.all([
          call("/v1/auth/login", { body: { email: account.email, password: account.password } }),
          after(wait.racers, () => raceRefresh(a, "v1")),
          after(wait.racers, () => raceRefresh(a, "001")),
          readsDuringRace(a),
        ]);
        expect(sixth.status).toBe(200);
        await expectEnded({ ended: [a, ...onePair([v1, doc001])], survivor: held(await json(sixth)) }, orderOf(i));
      });
    },
    RACE_TIMEOUT_MS,
  );
});
