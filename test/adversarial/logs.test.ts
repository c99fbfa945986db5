/**
 * Log hygiene (API.md §5, ASVS 16.2.5): the Worker runs in the tests' isolate, so spying on the
 * console sees every line it writes. A whole flow (guest, upgrade, register, verify, login on both
 * doors, refresh, me, change-password, forgot and reset, revoke), a few failures, and a 500 forced
 * with a real D1 trigger are run, and no password, token (access, refresh, mailed), hash or full
 * email address appears in any line.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  call, env, guest, json, login, mailedToken, refreshWith, uniqueEmail, uniqueUsername,
  storedPasswordHash,
} from "../helpers";
import type { Json } from "../helpers";

const METHODS = ["log", "info", "warn", "error", "debug"] as const;

function captureConsole() {
  const lines: string[] = [];
  for (const method of METHODS) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
    });
  }
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
});

async function expectOk(response: Response, status = 200): Promise<Json> {
  const text = await response.text();
  expect(response.status, text.slice(0, 200)).toBe(status);
  return text ? JSON.parse(text) : null;
}

describe("log lines", () => {
  it("name no password, token, hash or full email address through a whole flow", async () => {
    const lines = captureConsole();
    const secrets = new Set<string>();
    const keep = (...values: (string | undefined | null)[]) => values.forEach((v) => v && secrets.add(v));

    const password = "Quiet-Lantern-Harbor-7";
    const changed = "Amber-Orchard-Falcon-19";
    const reset = "Silver-Meadow-Compass-33";
    const email = uniqueEmail("logs");
    const upgradedEmail = uniqueEmail("logs-upgraded");
    keep(password, changed, reset, email, upgradedEmail, email.toUpperCase());

    // A guest, upgraded to a full account.
    const visitor = await guest();
    keep(visitor.accessToken, visitor.refreshToken);
    const upgraded = await expectOk(
      await call("/v1/auth/upgrade", {
        token: visitor.accessToken,
        body: { email: upgradedEmail, username: uniqueUsername("logs"), password },
      }),
      201,
    );
    keep(upgraded.accessToken, upgraded.refreshToken, await mailedToken(upgradedEmail, "/verify-email"));

    // Register, verify, sign in on both doors, refresh, me.
    const registered = await expectOk(await call("/v1/auth/register", { body: { email, password } }), 201);
    const verifyToken = await mailedToken(email, "/verify-email");
    keep(verifyToken);
    await expectOk(await call("/v1/auth/verify-email", { body: { token: verifyToken } }));
    const pair = await login({ email, password });
    const signin = await expectOk(await call("/auth/signin", { body: { email: ` ${email} `, password } }));
    keep(pair.accessToken, pair.refreshToken, signin.data.accessToken, signin.data.refreshToken);
    const rotated = await expectOk(await refreshWith(pair.refreshToken));
    keep(rotated.accessToken, rotated.refreshToken);
    await expectOk(await call("/v1/auth/me", { token: rotated.accessToken }));

    // Failures that carry secrets in their input.
    await call("/v1/auth/login", { body: { email, password: `${password}-wrong` } });
    keep(`${password}-wrong`);
    await call("/v1/auth/login", { rawBody: `{"email":"${email}","password":"${password}"`, headers: { "content-type": "application/json" } });
    await call("/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } });
    await call("/v1/auth/me", { token: `${rotated.accessToken}x` });

    // Change the password, then forget it and reset it.
    await expectOk(
      await call("/v1/auth/change-password", { token: rotated.accessToken, body: { currentPassword: password, newPassword: changed } }),
    );
    await expectOk(await call("/v1/auth/forgot-password", { body: { email } }));
    // Verification, the change notice, then the reset link.
    const resetToken = await mailedToken(email, "/reset-password", 3);
    keep(resetToken);
    await expectOk(await call("/v1/auth/reset-password", { body: { email, token: resetToken, newPassword: reset } }));
    const last = await login({ email, password: reset });
    keep(last.accessToken, last.refreshToken);
    await expectOk(await call("/v1/auth/revoke", { body: { refreshToken: last.refreshToken } }), 204);

    const hashes = await Promise.all([registered.user.id, upgraded.user.id].map(async (id) => (await storedPasswordHash(id)).hash!));
    for (const hash of hashes) keep(hash, hash.split("$").at(-1), hash.split("$").at(-2));

    // The capture works: every request above left its line.
    const requests = lines.filter((l) => l.includes('"event":"request"'));
    expect(requests.length).toBeGreaterThanOrEqual(15);
    expect(lines.some((l) => l.includes('"route":"/v1/auth/reset-password"'))).toBe(true);
    expect(secrets.size).toBeGreaterThanOrEqual(20);
    for (const line of lines) {
      for (const secret of secrets) expect(line.includes(secret), `a log line names a secret: ${line.slice(0, 300)}`).toBe(false);
    }
  });

  it("name no hash or email when a D1 write fails and the answer is a 500", async () => {
    const email = uniqueEmail("logs-fault");
    const password = "Velvet-Thunder-Harbor-11";
    const registered = await expectOk(await call("/v1/auth/register", { body: { email, password } }), 201);
    await expectOk(await call("/v1/auth/verify-email", { body: { token: await mailedToken(email, "/verify-email") } }));
    const { accessToken } = await login({ email, password });

    // Fault injection with the real database: any password update of this user aborts.
    await env.DB.exec(
      `CREATE TRIGGER logs_fault BEFORE UPDATE OF password_hash ON users WHEN OLD.id = '${registered.user.id}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
    );
    const lines = captureConsole();
    try {
      const response = await call("/v1/auth/change-password", {
        token: accessToken,
        body: { currentPassword: password, newPassword: "Crimson-Valley-Beacon-5" },
      });
      const body = await json(response);
      expect(response.status).toBe(500);
      expect(body).toEqual({ statusCode: 500, error: "internal", message: expect.any(String) });
    } finally {
      await env.DB.exec("DROP TRIGGER logs_fault");
    }
    const stored = { hash: (await storedPasswordHash(registered.user.id)).hash! };
    expect(lines.some((l) => l.includes('"event":"unhandled"'))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain("pbkdf2-sha256$");
      expect(line).not.toContain(stored!.hash.split("$").at(-1));
      expect(line).not.toContain(email);
      expect(line).not.toContain(password);
      expect(line).not.toContain("Crimson-Valley-Beacon-5");
      expect(line).not.toContain(accessToken);
    }
  });
});
