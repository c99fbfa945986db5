/**
 * The outbox (API.md §16): every change §16 lists writes its event in the same D1 batch as the
 * change, only for a change that happened, with `data.user` the User after the change (the same
 * shape the API answers), and `sequence` in commit order. Over HTTP through the real Worker and D1.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { purgeExpired } from "../../src/maintenance";
import {
  PASSWORD, adminCall, call, env, expectError, guest, json, login, mailbox, mailedToken, refreshWith, uniqueEmail, uniqueUsername, verifiedAccount,
} from "../helpers";
import { idTokenSignIn, mintIdToken, codeFlowSignIn } from "../helpers/oidc";
import { eventRows, eventTypes } from "./helpers";

const DAY = 86_400_000;

async function me(token: string) {
  return (await json(await call("/v1/auth/me", { token }))).user;
}

async function mailedCode(email: string): Promise<string> {
  expect((await call("/v1/auth/email-code", { body: { email } })).status).toBe(200);
  const [message] = await mailbox(email);
  return /sign-in code is (\d{6})/.exec(message!.text)![1]!;
}

/** A trigger that aborts any INSERT into `table` whose row mentions `text` in `column`; dropped by the returned function. */
async function failInserts(table: string, column: string, text: string): Promise<() => Promise<void>> {
  const name = `fault_${crypto.randomUUID().replaceAll("-", "")}`;
  await env.DB.exec(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} WHEN instr(NEW.${column}, '${text}') > 0 BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
  return async () => void (await env.DB.exec(`DROP TRIGGER ${name}`));
}

describe("every sign-up writes user.created in its batch", () => {
  it("guest: data.user is the answer's user", async () => {
    const pair = await guest();
    const [event] = await eventRows(pair.user.id);
    expect(event).toMatchObject({ type: "user.created", data: { user: pair.user } });
    expect(event!.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("register: data.user is the registered user, unverified", async () => {
    const email = uniqueEmail("reg");
    const response = await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(response.status).toBe(201);
    const { user } = await json(response);
    const rows = await eventRows(user.id);
    expect(rows.map((r) => r.type)).toEqual(["user.created"]);
    expect(rows[0]!.data).toEqual({ user: { ...user, emailVerified: false } });
  });

  it("email code sign-up; a second sign-in by code writes nothing", async () => {
    const email = uniqueEmail("code");
    const first = await json(await call("/v1/auth/email-code/verify", { body: { email, code: await mailedCode(email) } }));
    expect(first.user.email).toBe(email);
    expect(await eventTypes(first.user.id)).toEqual(["user.created"]);
    expect((await eventRows(first.user.id))[0]!.data.user).toEqual(await me(first.accessToken));
  });

  it("ID token and OAuth sign-ups", async () => {
    const email = uniqueEmail("oidc");
    const response = await idTokenSignIn({ idToken: await mintIdToken({ email, email_verified: true }) });
    expect(response.status).toBe(200);
    const pair = await json(response);
    expect(await eventTypes(pair.user.id)).toEqual(["user.created"]);
    expect((await eventRows(pair.user.id))[0]!.data.user).toEqual(await me(pair.accessToken));

    const web = await codeFlowSignIn({ account: { sub: `web-${crypto.randomUUID()}`, email: uniqueEmail("web"), email_verified: true } });
    expect(web.status).toBe(200);
    const webPair = await json(web);
    expect(await eventTypes(webPair.user.id)).toEqual(["user.created"]);
  });
});

describe("upgrades, profile and email changes", () => {
  it("upgrade by password: user.upgraded with the full account; a refused upgrade (email taken) writes none", async () => {
    const taken = await verifiedAccount("taken");
    const pair = await guest();
    const refused = await call("/v1/auth/upgrade", { token: pair.accessToken, body: { email: taken.email, username: uniqueUsername(), password: PASSWORD } });
    await expectError(refused, 409, "conflict");
    expect(await eventTypes(pair.user.id)).toEqual(["user.created"]);

    const email = uniqueEmail("up");
    const upgraded = await call("/v1/auth/upgrade", { token: pair.accessToken, body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(upgraded.status).toBe(201);
    const body = await json(upgraded);
    const rows = await eventRows(pair.user.id);
    expect(rows.map((r) => r.type)).toEqual(["user.created", "user.upgraded"]);
    expect(rows[1]!.data.user).toEqual(body.user);
    expect(rows[1]!.data.user).toMatchObject({ id: pair.user.id, isGuest: false, email });
  });

  it("upgrade by email code and by provider", async () => {
    const byCode = await guest();
    const email = uniqueEmail("gcode");
    const codeAnswer = await call("/v1/auth/email-code/verify", { token: byCode.accessToken, body: { email, code: await mailedCode(email) } });
    expect(codeAnswer.status).toBe(200);
    const codeRows = await eventRows(byCode.user.id);
    expect(codeRows.map((r) => r.type)).toEqual(["user.created", "user.upgraded"]);
    expect(codeRows[1]!.data.user).toMatchObject({ id: byCode.user.id, isGuest: false, email, emailVerified: true });

    const byProvider = await guest();
    const response = await idTokenSignIn({ idToken: await mintIdToken({ email: uniqueEmail("gid"), email_verified: true }) }, byProvider.accessToken);
    expect(response.status).toBe(200);
    expect(await eventTypes(byProvider.user.id)).toEqual(["user.created", "user.upgraded"]);
  });

  it("verify-email, PATCH me and a confirmed email change write user.updated with the new state", async () => {
    const email = uniqueEmail("upd");
    const registered = await json(await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } }));
    const token = await mailedToken(email, "/verify-email");
    expect((await call("/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    // A second use of a spent link changes nothing and writes nothing.
    await call("/v1/auth/verify-email", { body: { token } });
    const userId = registered.user.id;
    expect(await eventTypes(userId)).toEqual(["user.created", "user.updated"]);
    expect((await eventRows(userId))[1]!.data.user.emailVerified).toBe(true);

    const pair = await login({ email, password: PASSWORD });
    const username = uniqueUsername("renamed");
    const patched = await json(await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username } }));
    const afterPatch = await eventRows(userId);
    expect(afterPatch.map((r) => r.type)).toEqual(["user.created", "user.updated", "user.updated"]);
    expect(afterPatch[2]!.data.user).toEqual(patched.user);

    const newEmail = uniqueEmail("moved");
    expect((await call("/v1/auth/change-email", { token: pair.accessToken, body: { newEmail, password: PASSWORD } })).status).toBe(200);
    expect(await eventTypes(userId)).toHaveLength(3); // requesting changes nothing yet
    const confirmToken = await mailedToken(newEmail, "/confirm-email-change");
    const confirmed = await json(await call("/v1/auth/confirm-email-change", { body: { token: confirmToken } }));
    const afterChange = await eventRows(userId);
    expect(afterChange).toHaveLength(4);
    expect(afterChange[3]!.data.user).toEqual(confirmed.user);
    expect(afterChange[3]!.data.user.email).toBe(newEmail);
  });

  it("a PATCH refused (username taken) writes no event", async () => {
    const other = await verifiedAccount("other");
    const account = await verifiedAccount("self");
    const pair = await login(account);
    await expectError(await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username: other.username } }), 409, "conflict");
    expect(await eventTypes(account.userId)).toEqual(["user.created", "user.updated"]);
  });
});

describe("nothing lost, nothing invented", () => {
  it("a batch that fails writes neither the change nor the event (event insert faulted)", async () => {
    const account = await verifiedAccount("fault");
    const pair = await login(account);
    const before = await me(pair.accessToken);
    const drop = await failInserts("events", "data", account.userId);
    try {
      const response = await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username: uniqueUsername("never") } });
      await expectError(response, 500, "internal");
    } finally {
      await drop();
    }
    expect(await me(pair.accessToken)).toEqual(before);
    expect(await eventTypes(account.userId)).toEqual(["user.created", "user.updated"]);
  });

  it("a batch that fails writes neither (the change's own statement faulted: register)", async () => {
    const email = uniqueEmail("nofault");
    const drop = await failInserts("one_time_tokens", "email", email);
    try {
      await expectError(await call("/v1/auth/register", { body: { email, username: uniqueUsername(), password: PASSWORD } }), 500, "internal");
    } finally {
      await drop();
    }
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email = ?").bind(email).first("n")).toBe(0);
    expect(await eventRows(email)).toEqual([]);
  });

  it("sequence follows commit order: of concurrent renames, the highest sequence carries the final name", async () => {
    const account = await verifiedAccount("race");
    const pair = await login(account);
    const names = Array.from({ length: 6 }, (_, i) => uniqueUsername(`r${i}`));
    const answers = await Promise.all(names.map((username) => call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, body: { username } })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const rows = (await eventRows(account.userId)).filter((r) => r.type === "user.updated").slice(1);
    expect(rows).toHaveLength(6);
    const sequences = rows.map((r) => r.sequence);
    expect(new Set(sequences).size).toBe(6);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    const final = (await me(pair.accessToken)).username;
    expect(rows[rows.length - 1]!.data.user.username).toBe(final);
  });
});

describe("disable, enable and the deletions", () => {
  it("admin disable and enable; a repeated disable writes nothing", async () => {
    const account = await verifiedAccount("dis");
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    expect((await adminCall(`/users/${account.userId}/disable`, { method: "POST" })).status).toBe(200);
    expect((await adminCall(`/users/${account.userId}/enable`, { method: "POST" })).status).toBe(200);
    const rows = await eventRows(account.userId);
    expect(rows.map((r) => r.type)).toEqual(["user.created", "user.updated", "user.disabled", "user.enabled"]);
    expect(rows[2]!.data.user.id).toBe(account.userId);
  });

  it("user.deleted with reason self, link, admin; nothing more of the user than its id", async () => {
    const self = await verifiedAccount("delself");
    const pair = await login(self);
    expect((await call("/v1/auth/me", { method: "DELETE", token: pair.accessToken, body: { password: PASSWORD } })).status).toBe(204);

    const linked = await verifiedAccount("dellink");
    expect((await call("/v1/auth/request-deletion", { body: { email: linked.email } })).status).toBe(200);
    const token = await mailedToken(linked.email, "/delete-account", 2);
    expect((await call("/v1/auth/confirm-deletion", { body: { token } })).status).toBe(200);

    const admin = await verifiedAccount("deladmin");
    expect((await adminCall(`/users/${admin.userId}`, { method: "DELETE" })).status).toBe(204);
    // A second delete finds no user: 404 and no second event.
    expect((await adminCall(`/users/${admin.userId}`, { method: "DELETE" })).status).toBe(404);

    for (const [account, reason] of [[self, "self"], [linked, "link"], [admin, "admin"]] as const) {
      const rows = await eventRows(account.userId);
      expect(rows.map((r) => r.type)).toEqual(["user.created", "user.updated", "user.deleted"]);
      expect(rows[2]!.data).toEqual({ user: { id: account.userId }, reason });
    }
  });

  it("the daily clean-up's dead guests: user.deleted with reason retention", async () => {
    const pair = await guest();
    const refreshed = await json(await refreshWith(pair.refreshToken));
    expect((await call("/v1/auth/revoke", { body: { refreshToken: refreshed.refreshToken } })).status).toBe(204);
    const config = loadConfig(env);
    await purgeExpired(env as Env, Date.now() + config.guestRetentionMs + DAY, config);
    // The clean-up ran 31 days ahead, so the 30 days of events before it were purged (the feed's
    // test checks that); the deletion's event is written after that purge, at the real time.
    const rows = await eventRows(pair.user.id);
    expect(rows.map((r) => r.type)).toEqual(["user.deleted"]);
    expect(rows[0]!.data).toEqual({ user: { id: pair.user.id }, reason: "retention" });
  });
});
