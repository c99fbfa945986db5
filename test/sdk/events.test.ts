/**
 * The SDK and API.md §16: `login()` sends the signed-in guest's token by itself, so the service
 * merges the guest into the account (user.merged) instead of leaving it stranded; a full account's
 * session sends none; a guest session that is over is dropped and the login goes through without it.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, client, freshIp, mailedToken, serviceUrl, signedInUser, uniqueEmail } from "./helpers";

async function verifiedEmail(label: string): Promise<string> {
  const { auth } = client();
  const email = uniqueEmail(label);
  await auth.register({ email, password: PASSWORD });
  await auth.verifyEmail({ token: await mailedToken(email, "/verify-email") });
  return email;
}

const meStatus = async (token: string) => (await fetch(`${serviceUrl}/v1/auth/me`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": freshIp() } })).status;

describe("login() while a guest is signed in", () => {
  it("sends the guest's token: the guest is merged into the account and its token stops working", async () => {
    const email = await verifiedEmail("sdk-merge");
    const { auth, net } = client();
    const guest = await auth.guest();
    const pair = await auth.login({ email, password: PASSWORD });
    const sent = net.requests.find((r) => r.line === "POST /v1/auth/login");
    expect(sent?.authorization).toBe(`Bearer ${guest.accessToken}`);
    expect(pair.user).toMatchObject({ email, isGuest: false });
    expect(auth.session?.user?.id).toBe(pair.user.id);
    expect(await meStatus(guest.accessToken)).toBe(401);
  });

  it("a full account's session sends no token", async () => {
    const email = await verifiedEmail("sdk-other");
    const { auth, net } = await signedInUser("sdk-full");
    const before = auth.session!.accessToken;
    await auth.login({ email, password: PASSWORD });
    const logins = net.requests.filter((r) => r.line === "POST /v1/auth/login");
    expect(logins.at(-1)?.authorization).toBeNull();
    expect(await meStatus(before)).toBe(200);
  });

  it("a guest session that is over is dropped, and the login goes through without it", async () => {
    const email = await verifiedEmail("sdk-ended");
    const { auth } = client();
    const guest = await auth.guest();
    // The guest's session ends elsewhere (another device signed it out).
    await fetch(`${serviceUrl}/v1/auth/revoke`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() }, body: JSON.stringify({ refreshToken: guest.refreshToken }) });
    const pair = await auth.login({ email, password: PASSWORD });
    expect(pair.user.email).toBe(email);
    expect(auth.session?.user?.id).toBe(pair.user.id);
  });
});
