/**
 * Other people's pictures (issue 22 item 2): a user may point their picture at any https URL,
 * another user's upload included, but replacing, removing it or deleting the account deletes an
 * object in R2 only when that user uploaded it (its R2 custom metadata `owner`).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, freshIp, json, verifiedAccount } from "../helpers";
import type { CallOptions } from "../helpers";

/**
 * The Worker as production runs it, with an https PUBLIC_URL: the service's own upload URLs are then
 * https, like any picture URL a user may give (tests otherwise serve on http://auth.test).
 */
async function call(path: string, options: CallOptions = {}): Promise<Response> {
  const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
  const { default: worker } = await import("../../src");
  const headers = new Headers(options.headers);
  headers.set("cf-connecting-ip", freshIp());
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  let body = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers.set("content-type", "application/json");
  }
  const ctx = createExecutionContext();
  const request = new Request(`https://auth.test${path}`, { method: options.method ?? (body === undefined ? "GET" : "POST"), headers, body });
  const response = await worker.fetch(request, { ...env, PUBLIC_URL: "https://auth.test" } as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
const patch = (accessToken: string, body: unknown) => call("/v1/auth/me", { method: "PATCH", token: accessToken, body });
const keyOf = (url: string) => url.split("/").pop()!;
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

async function upload(accessToken: string): Promise<string> {
  const form = new FormData();
  form.append("profilePicture", new File([PNG], "me.png", { type: "image/png" }));
  const response = await call("/v1/auth/me", { method: "PATCH", token: accessToken, rawBody: form });
  expect(response.status).toBe(200);
  return (await json(response)).user.profilePicture as string;
}

describe("a picture that is another user's upload", () => {
  it("can be pointed at, and is never deleted by the one who pointed at it", async () => {
    const alice = await verifiedAccount("pic-owner");
    const mallory = await verifiedAccount("pic-pointer");
    const login = async (email: string) => json(await call("/v1/auth/login", { body: { email, password: PASSWORD } }));
    const a = await login(alice.email);
    const m = await login(mallory.email);
    const url = await upload(a.accessToken);
    expect((await env.AVATARS.head(keyOf(url)))?.customMetadata).toEqual({ owner: alice.userId });

    // Pointing at it is allowed (any https URL is), replacing it and removing it delete nothing.
    expect((await json(await patch(m.accessToken, { profilePicture: url }))).user.profilePicture).toBe(url);
    expect((await patch(m.accessToken, { profilePicture: "https://cdn.example.com/other.png" })).status).toBe(200);
    expect((await patch(m.accessToken, { profilePicture: url })).status).toBe(200);
    expect((await patch(m.accessToken, { profilePicture: null })).status).toBe(200);
    expect((await patch(m.accessToken, { profilePicture: url })).status).toBe(200);
    // Nor does deleting the pointer's account.
    expect((await call("/v1/auth/me", { method: "DELETE", token: m.accessToken, body: { password: PASSWORD } })).status).toBe(204);
    await settle();
    expect(await env.AVATARS.head(keyOf(url))).not.toBeNull();
    expect(url).toMatch(/^https:\/\/auth\.test\/v1\/auth\/avatars\//);
    expect((await call(new URL(url).pathname)).status).toBe(200);

    // The owner's own replacement does delete it.
    const next = await upload(a.accessToken);
    expect(next).not.toBe(url);
    await expect.poll(async () => env.AVATARS.head(keyOf(url))).toBeNull();
    expect(await env.AVATARS.head(keyOf(next))).not.toBeNull();
  });
});
