/**
 * Failures of the moment (src/http/errors.ts `transientError`): a D1 query whose connection was lost
 * or a Durable Object call the runtime marks `retryable` answers 503 `unavailable` with Retry-After,
 * not 500 (API.md §5); a D1 error that is not transient stays a 500 `internal`. Over HTTP in workerd,
 * with a D1 binding that fails as D1 reports it, and a user-object namespace whose calls reject.
 *
 * @example
 * flock /tmp/vitest.lock npx vitest run --project workers test/http/transient.test.ts
 */
import { describe, expect, it } from "vitest";
import { env, expectError, login, verifiedAccount } from "../helpers";
import { fetchWith } from "../helpers/edge";

/** `env.DB` whose every statement and batch fails with `message`, as D1 rejects them. */
function failingDb(message: string): D1Database {
  const fail = () => Promise.reject(new Error(message));
  const statement = { bind: () => statement, run: fail, all: fail, first: fail, raw: fail };
  return { prepare: () => statement, batch: fail, exec: fail, withSession: () => ({ prepare: () => statement, batch: fail }) } as unknown as D1Database;
}

describe("failures of the moment answer 503", () => {
  it("D1's lost connection on a sign-in is 503 unavailable with Retry-After; a D1 error of another kind is 500", async () => {
    const body = { email: "someone@example.com", password: "correct horse battery staple" };
    const lost = await fetchWith({ ...env, DB: failingDb("D1_ERROR: Network connection lost.") } as Env, "/v1/auth/login", { body });
    await expectError(lost, 503, "unavailable");
    expect(Number(lost.headers.get("retry-after"))).toBeGreaterThan(0);
    const reset = await fetchWith({ ...env, DB: failingDb("D1_ERROR: Durable Object reset because its code was updated.") } as Env, "/v1/auth/login", { body });
    await expectError(reset, 503, "unavailable");
    const other = await fetchWith({ ...env, DB: failingDb("D1_ERROR: no such table: users") } as Env, "/v1/auth/login", { body });
    await expectError(other, 500, "internal");
  });

  it("a user-object call the runtime marks retryable (an object reset) is 503, not 500", async () => {
    const account = await verifiedAccount("transient-object");
    const pair = await login(account);
    const rejecting = {
      idFromName: (name: string) => env.USER_SESSIONS.idFromName(name),
      get: () =>
        new Proxy(
          {},
          {
            get: (_target, property) =>
              property === "then" ? undefined : () => Promise.reject(Object.assign(new Error("Durable Object storage operation exceeded timeout"), { retryable: true })),
          },
        ),
    } as unknown as Env["USER_SESSIONS"];
    const response = await fetchWith({ ...env, USER_SESSIONS: rejecting } as Env, "/v1/auth/me", { token: pair.accessToken });
    await expectError(response, 503, "unavailable");
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
