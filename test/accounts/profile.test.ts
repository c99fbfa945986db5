/**
 * PATCH /v1/auth/me (API.md §9): username and picture (an https URL, null, or an uploaded image in
 * R2, whose replaced upload is deleted), 409 for a taken username, 403 for a guest, §5 errors.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, guest, json, login, uniqueUsername, verifiedAccount } from "../helpers";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
const patch = (accessToken: string, body: unknown) => call("/v1/auth/me", { method: "PATCH", token: accessToken, body });

function pictureForm(bytes: Uint8Array = PNG): FormData {
  const form = new FormData();
  form.append("profile_picture", new File([bytes], "me.png", { type: "image/png" }));
  return form;
}

describe("PATCH /v1/auth/me", () => {
  it("changes the username and the picture, and answers with the user", async () => {
    const account = await verifiedAccount("profile");
    const pair = await login(account);
    const username = uniqueUsername("Renamed");
    const renamed = await patch(pair.accessToken, { username });
    expect(renamed.status).toBe(200);
    expect(renamed.headers.get("RateLimit-Remaining")).not.toBeNull();
    expect((await json(renamed)).user).toMatchObject({ id: account.userId, username });
    // The new username signs in, in any case.
    expect((await call("/v1/auth/login", { body: { username: username.toLowerCase(), password: account.password } })).status).toBe(200);

    const url = await patch(pair.accessToken, { profilePicture: "https://cdn.example.com/me.png" });
    expect((await json(url)).user.profilePicture).toBe("https://cdn.example.com/me.png");
    await expectError(await patch(pair.accessToken, { profilePicture: "http://cdn.example.com/me.png" }), 400, "invalid_request");
    await expectError(await patch(pair.accessToken, { email: "sneaky@example.com" }), 400, "invalid_request");

    const uploaded = await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, rawBody: pictureForm() });
    expect(uploaded.status).toBe(200);
    const first = (await json(uploaded)).user.profilePicture as string;
    expect(first).toMatch(/\/v1\/auth\/avatars\/[0-9a-f-]{36}\.png$/);
    expect((await call(new URL(first).pathname)).status).toBe(200);

    const replaced = await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, rawBody: pictureForm() });
    const second = (await json(replaced)).user.profilePicture as string;
    expect(second).not.toBe(first);
    await expect.poll(async () => env.AVATARS.get(first.split("/").pop()!)).toBeNull();

    const removed = await patch(pair.accessToken, { profilePicture: null });
    expect((await json(removed)).user.profilePicture).toBeNull();
    await expect.poll(async () => env.AVATARS.get(second.split("/").pop()!)).toBeNull();

    const huge = new Uint8Array(2 * 1024 * 1024 + 1);
    huge.set(PNG);
    await expectError(await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, rawBody: pictureForm(huge) }), 413, "payload_too_large");
    const notImage = await call("/v1/auth/me", { method: "PATCH", token: pair.accessToken, rawBody: pictureForm(new Uint8Array([1, 2, 3, 4])) });
    await expectError(notImage, 400, "invalid_request");
  });

  it("answers 409 for a username another account has (in any case), 403 for a guest, 401 without a token", async () => {
    const owner = await verifiedAccount("owner");
    const account = await verifiedAccount("taker");
    const pair = await login(account);
    const taken = await expectError(await patch(pair.accessToken, { username: owner.username.toUpperCase() }), 409, "conflict");
    expect(taken.details[0].field).toBe("username");
    const visitor = await guest();
    await expectError(await patch(visitor.accessToken, { username: uniqueUsername() }), 403, "forbidden");
    await expectError(await call("/v1/auth/me", { method: "PATCH", body: { username: uniqueUsername() } }), 401, "invalid_token");
  });
});

describe("CORS for PATCH", () => {
  it("a configured origin may send PATCH /v1/auth/me from a browser", async () => {
    const response = await call("/v1/auth/me", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "PATCH", "access-control-request-headers": "authorization,content-type" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(response.headers.get("access-control-allow-methods")).toContain("PATCH");
  });
});
