/**
 * The small inputs a newcomer trips on (issue 13): every RFC 9110 spelling of a JSON media type,
 * an empty JSON body, error details that name fields as the caller's door spells them with
 * messages that read, internationalised domains in A-label form, and sign-out of other users'
 * sessions.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, call, expectError, login, uniqueEmail, verifiedAccount } from "../helpers";

const register = (email: string, contentType = "application/json") =>
  call("/v1/auth/register", { rawBody: JSON.stringify({ email, password: PASSWORD }), headers: { "content-type": contentType } });

describe("JSON media types (RFC 9110 §8.3.1, RFC 6839)", () => {
  it.each([
    "application/json",
    "application/json ; charset=utf-8",
    "application/json;charset=utf-8;",
    "Application/JSON;Charset=UTF-8",
    "application/json;\tcharset=\"utf-8\"",
    "application/json;;charset=utf-8",
    "application/vnd.api+json",
    "  application/merge-patch+json  ",
  ])("reads a body sent as %j", async (type) => {
    expect((await register(uniqueEmail("media"), type)).status).toBe(201);
  });

  it.each(["text/plain", "application/jsonx", "application/json; charset", "application/json garbage"])("refuses %j with 415", async (type) => {
    await expectError(await register(uniqueEmail("media"), type), 415, "unsupported_media_type");
  });
});

describe("an empty JSON body is no body", () => {
  it("POST /auth/signout with Content-Type: application/json and no bytes signs out (200)", async () => {
    const pair = await login(await verifiedAccount("emptybody"));
    const response = await call("/auth/signout", { token: pair.accessToken, rawBody: "", headers: { "content-type": "application/json" } });
    expect(response.status).toBe(200);
    await expectError(await call("/v1/auth/me", { token: pair.accessToken }), 401, "invalid_token");
  });

  it("a required body that is empty names the missing fields", async () => {
    const empty = await call("/v1/auth/login", { rawBody: "", headers: { "content-type": "application/json" } });
    const body = await expectError(empty, 400, "invalid_request");
    expect(body.details).toContainEqual({ field: "password", message: "is required" });
  });
});

describe("error details name fields as the door spells them", () => {
  it("document 000: access_token and refresh_token, with messages that read", async () => {
    const body = await expectError(await call("/auth/refresh", { body: {} }), 400, "invalid_request");
    expect(body.details).toEqual([
      { field: "access_token", message: "is required" },
      { field: "refresh_token", message: "is required" },
    ]);
    // camelCase input is accepted, and still reported in the document's spelling.
    const typed = await expectError(await call("/auth/refresh", { body: { accessToken: 7, refreshToken: "" } }), 400, "invalid_request");
    expect(typed.details).toEqual([
      { field: "access_token", message: "must be a string" },
      { field: "refresh_token", message: "must not be empty" },
    ]);
  });

  it("document 001: a weak new password at /auth/password-reset/:email is `password`, not newPassword", async () => {
    const account = await verifiedAccount("spell1");
    const body = await expectError(
      await call(`/auth/password-reset/${account.email}`, { body: { password: "password", token: "x".repeat(43) } }),
      400,
      "invalid_request",
    );
    expect(body.details.map((d: { field: string }) => d.field)).toEqual(["password"]);
  });

  it("the canonical door keeps camelCase names and says `is required`", async () => {
    const body = await expectError(await call("/v1/auth/refresh", { body: {} }), 400, "invalid_request");
    expect(body.details).toEqual([{ field: "refreshToken", message: "is required" }]);
  });

  it("login without email or username names email; a bad username alone names username", async () => {
    const none = await expectError(await call("/v1/auth/login", { body: { password: PASSWORD } }), 400, "invalid_request");
    expect(none.details).toEqual([{ field: "email", message: "is required" }]);
    const bad = await expectError(await call("/v1/auth/login", { body: { username: "a!", password: PASSWORD } }), 400, "invalid_request");
    expect(bad.details.map((d: { field: string }) => d.field)).toEqual(["username"]);
  });
});

describe("email addresses", () => {
  it("accepts an internationalised domain in A-label form", async () => {
    const email = `olga-${crypto.randomUUID().slice(0, 6)}@example.xn--p1ai`;
    expect((await register(email)).status).toBe(201);
  });

  it.each([
    ["ольга@example.com", /ASCII/],
    ["olga@пример.рф", /xn--/],
    ["olga@example", /domain/],
    ["olga@example.123", /domain/],
    ["olga..x@example.com", /email address/],
    ["o\"lga\"@example.com", /email address/],
  ])("refuses %j with a clear message", async (email, message) => {
    const body = await expectError(await register(email), 400, "invalid_request");
    expect(body.details[0].field).toBe("email");
    expect(body.details[0].message).toMatch(message);
  });
});

describe("POST /auth/signout with other users' sessionIds", () => {
  it("answers 403 as DELETE does, and ends nothing", async () => {
    const mine = await login(await verifiedAccount("so-mine"));
    const theirs = await login(await verifiedAccount("so-theirs"));
    await expectError(await call("/auth/signout", { token: mine.accessToken, body: { sessionIds: [theirs.sessionId] } }), 403, "forbidden");
    await expectError(await call(`/auth/${theirs.sessionId}/sessions`, { method: "DELETE", token: mine.accessToken }), 403, "forbidden");
    expect((await call("/v1/auth/me", { token: theirs.accessToken })).status).toBe(200);
    expect((await call("/v1/auth/me", { token: mine.accessToken })).status).toBe(200);
  });
});


describe("form bodies whose field names multipart cannot carry", () => {
  it("answer 400, not 500 (a urlencoded name ending in a backslash; found by the fuzz suite)", async () => {
    const response = await call("/v1/auth/reset-password", {
      rawBody: 'newPassword\\=x&email=a%40example.com',
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const body = await expectError(response, 400, "invalid_request");
    expect(body.details[0].field).toBe("body");
  });
});
