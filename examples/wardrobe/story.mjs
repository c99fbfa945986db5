#!/usr/bin/env node
/**
 * The wardrobe's whole story, played through the client SDK (`edge-auth/client`) against a running
 * auth service and wardrobe app (issue 26): a guest keeps items, upgrades (the address verified
 * through the service's dev outbox, /_dev/mail), signs in on a second device, lists its sessions,
 * refreshes, signs out there (the app refuses that device's token at once), signs into the account
 * from a guest on a third device (the service's `user.merged` webhook moves the guest's items to the
 * account), and deletes the account (the app refuses its token at once, and the `user.deleted`
 * webhook erases its items). It also knocks on the app's `/webhooks` itself: a forged delivery is
 * refused, a repeated `webhook-id` changes nothing. Each step checks what the user would see; any
 * mismatch exits 1. scripts/wardrobe-story.mjs starts the service and the app, then runs this.
 *
 * Needs `WEBHOOK_SECRET_WARDROBE` (the secret the service signs the app's webhooks with; the story
 * signs its own deliveries with the `standardwebhooks` package) and the app's `ENVIRONMENT=development`
 * (its `/_dev/items?user=`, to see a deleted user's rows go). Waits for a webhook at most 20 s.
 *
 * Prints `::expect-service-log <requestId> <reason>` for the app's refusals, which the runner looks
 * up in the service's log (`rpc.session_refused`, src/rpc/refusal.ts).
 *
 * @example
 * SERVICE_URL=http://127.0.0.1:8787 APP_URL=http://127.0.0.1:8788 node story.mjs
 */
import { createClient, EdgeAuthError, memoryStorage } from "edge-auth/client";
import { Webhook } from "standardwebhooks";

const SERVICE_URL = process.env.SERVICE_URL ?? "http://127.0.0.1:8787";
const APP_URL = process.env.APP_URL ?? "http://127.0.0.1:8788";
const PASSWORD = "wardrobe-velvet-harbor-42";
const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET_WARDROBE ?? "";
/** How long a webhook may take to land, in ms (the service's first attempt: within 5 s). */
const WEBHOOK_WAIT_MS = 20_000;

let step = 0;
const say = (line) => console.log(`story ${String(++step).padStart(2, "0")}: ${line}`);
function check(condition, what, detail) {
  if (!condition) {
    console.error(`story: FAILED: ${what}${detail === undefined ? "" : `\n  got: ${JSON.stringify(detail)}`}`);
    process.exit(1);
  }
}

/** The app's API through a client: JSON in, `{ status, body, requestId }` out. */
async function app(auth, method, path, body) {
  const response = await auth.fetch(`${APP_URL}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, requestId: response.headers.get("x-request-id") };
}

/** The app with a bare token (a device that no longer holds the session would send its old one). */
async function appWithToken(token, path) {
  const response = await fetch(`${APP_URL}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json(), requestId: response.headers.get("x-request-id") };
}

/** The newest mailed link's token for `page`, from the service's dev outbox. */
async function mailedToken(to, page) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await fetch(`${SERVICE_URL}/_dev/mail?to=${encodeURIComponent(to)}`, { headers: { accept: "application/json" } });
    const { messages } = await response.json();
    const link = messages[0]?.text.match(new RegExp(`https?://\\S+${page}\\?\\S+`))?.[0];
    if (link) return new URL(link).searchParams.get("token");
    if (Date.now() > deadline) throw new Error(`no ${page} link mailed to ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const names = (answer) => answer.body.items.map((item) => item.name).sort();

/** Polls `probe` every 250 ms until it returns a value other than null, for at most `ms`; else fails. */
async function waitFor(what, probe, ms = WEBHOOK_WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    check(Date.now() < deadline, `${what}, within ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The app's rows for a user, whoever holds a token or not (development only: src/dev.ts). */
async function devItems(userId) {
  const response = await fetch(`${APP_URL}/_dev/items?user=${encodeURIComponent(userId)}`);
  check(response.status === 200, "GET /_dev/items (the app's ENVIRONMENT=development)", response.status);
  return (await response.json()).items.map((item) => item.name).sort();
}

/**
 * POSTs `body` to the app's /webhooks as the service would, signed with `secret` (none: unsigned) by
 * the `standardwebhooks` package; `sent` replaces the body after signing (a tampered delivery).
 */
async function deliver(secret, id, body, sent = body) {
  const timestamp = new Date();
  const headers = { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)) };
  if (secret) headers["webhook-signature"] = new Webhook(secret).sign(id, timestamp, body);
  const response = await fetch(`${APP_URL}/webhooks`, { method: "POST", headers, body: sent });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// 1. A guest, on the phone: no sign-up form before the first item.
const phone = createClient({ baseUrl: SERVICE_URL, storage: memoryStorage() });
const guest = await phone.guest();
check(guest.user.isGuest === true, "the guest is a guest", guest.user);
say(`guest ${guest.user.id} on the phone`);

// 2. Its items, in the app's own D1 table.
check((await app(phone, "GET", "/items")).body.items.length === 0, "a new guest has no items");
for (const name of ["Blue coat", "Red scarf"]) {
  const created = await app(phone, "POST", "/items", { name });
  check(created.status === 201 && created.body.item.name === name, `POST /items ${name}`, created);
}
check(JSON.stringify(names(await app(phone, "GET", "/items"))) === JSON.stringify(["Blue coat", "Red scarf"]), "the guest's two items");
const invalid = await app(phone, "POST", "/items", { name: "" });
check(invalid.status === 400 && invalid.body.error === "invalid_request", "an empty name is a 400 invalid_request", invalid);
say("two items kept for the guest");

// 3. The upgrade: same user id, a full account; the address verified by the mailed link.
const email = `wardrobe-${crypto.randomUUID().slice(0, 8)}@example.com`;
const upgraded = await phone.upgrade({ email, username: `wardrobe_${crypto.randomUUID().slice(0, 6)}`, password: PASSWORD });
check(upgraded.user.id === guest.user.id && upgraded.user.isGuest === false, "the upgrade keeps the user id", upgraded.user);
check(upgraded.user.emailVerified === false, "the address is not verified yet", upgraded.user);
await phone.verifyEmail({ token: await mailedToken(email, "/verify-email") });
// Proving an address nobody had proven ends the sessions made before the proof (docs/addresses.md:
// whoever claimed the address may not own the mailbox), so the phone signs in again.
await phone.login({ email, password: PASSWORD });
const me = await phone.me();
check(me.user.emailVerified === true, "the address is verified (dev outbox link)", me.user);
say(`upgraded to ${email}, verified through /_dev/mail`);

// 4. The items survived the upgrade (the app keys them by user id).
check(names(await app(phone, "GET", "/items")).length === 2, "the items survive the upgrade");
say("the items survived the upgrade");

// 5. A second device: the laptop signs in and sees the same wardrobe.
const laptop = createClient({ baseUrl: SERVICE_URL, storage: memoryStorage() });
const laptopPair = await laptop.login({ email, password: PASSWORD });
check(laptopPair.user.id === guest.user.id, "the laptop signs into the same account");
check(names(await app(laptop, "GET", "/items")).length === 2, "the laptop sees the two items");
check((await app(laptop, "POST", "/items", { name: "Green boots" })).status === 201, "the laptop adds an item");
check(names(await app(phone, "GET", "/items")).includes("Green boots"), "the phone sees the laptop's item");
say("a second device (laptop) shares the wardrobe");

// 6. Sessions listed: the phone's and the laptop's.
const { sessions } = await phone.sessions.list();
check(sessions.length === 2, "two sessions", sessions);
check(sessions.filter((s) => s.current).length === 1 && sessions.find((s) => s.current).id === phone.session.sessionId, "the phone's session is marked current", sessions);
say(`sessions listed: ${sessions.length} (one current)`);

// 7. Refresh: a new pair for the same session; the app accepts the new access token.
const before = phone.session;
const rotated = await phone.refresh();
check(rotated.sessionId === before.sessionId && rotated.refreshToken !== before.refreshToken, "refresh rotates within the session");
check((await app(phone, "GET", "/items")).status === 200, "the app accepts the refreshed token");
say("refreshed: same session, new tokens");

// 8. Sign-out on the laptop: its token is refused by the app at once (through AuthRpc, not after
// the token's hour), and the phone carries on.
const laptopToken = laptop.session.accessToken;
check((await laptop.logout()) === true, "the laptop signs out");
check(laptop.session === null, "the laptop holds no session");
const afterLogout = await appWithToken(laptopToken, "/items");
check(afterLogout.status === 401 && afterLogout.body.error === "invalid_token", "the app refuses the signed-out laptop's token", afterLogout);
check(typeof afterLogout.requestId === "string", "the app's 401 carries X-Request-Id", afterLogout);
console.log(`::expect-service-log ${afterLogout.requestId} session_ended`);
check((await app(phone, "GET", "/items")).status === 200, "the phone is still signed in");
check((await phone.sessions.list()).sessions.length === 1, "one session left");
say("signed out on the laptop: its token refused at once, the phone unaffected");

// 9. A guest on a tablet keeps items, then signs into the existing account (API.md §16): the SDK
// sends the guest's token with the login, the service merges the guest into the account and tells
// the app (`user.merged`), whose webhook gives the guest's items to the account.
const tablet = createClient({ baseUrl: SERVICE_URL, storage: memoryStorage() });
const tabletGuest = await tablet.guest();
for (const name of ["Yellow hat", "Grey gloves"]) {
  check((await app(tablet, "POST", "/items", { name })).status === 201, `the tablet's guest adds ${name}`);
}
const tabletGuestToken = tablet.session.accessToken;
const merged = await tablet.login({ email, password: PASSWORD });
check(merged.user.id === guest.user.id && merged.user.isGuest === false, "the tablet's guest signs into the account", merged.user);
const guestGone = await appWithToken(tabletGuestToken, "/items");
check(guestGone.status === 401, "the app refuses the merged guest's token", guestGone);
console.log(`::expect-service-log ${guestGone.requestId} session_ended`);
const wardrobe = ["Blue coat", "Green boots", "Grey gloves", "Red scarf", "Yellow hat"];
const mergedAt = Date.now();
await waitFor("the guest's items under the account (the user.merged webhook)", async () => {
  const seen = names(await app(tablet, "GET", "/items"));
  return JSON.stringify(seen) === JSON.stringify(wardrobe) ? seen : null;
});
check(JSON.stringify(names(await app(phone, "GET", "/items"))) === JSON.stringify(wardrobe), "the phone sees the merged items too");
check((await devItems(tabletGuest.user.id)).length === 0, "nothing is left under the merged guest's id");
say(`a guest on the tablet signed into the account: its two items moved there (user.merged, seen ${Date.now() - mergedAt} ms after the sign-in)`);

// 10. The webhook route itself, as the service reaches it: a forged, unsigned or altered delivery is
// refused and changes nothing; a repeated webhook-id (a retry) changes nothing either.
check(WEBHOOK_SECRET.startsWith("whsec_"), "WEBHOOK_SECRET_WARDROBE is given (the service's secret for the app)");
const kiosk = createClient({ baseUrl: SERVICE_URL, storage: memoryStorage() });
const kioskGuest = await kiosk.guest();
check((await app(kiosk, "POST", "/items", { name: "White socks" })).status === 201, "the kiosk's guest adds an item");
/** An event as §16 shapes it (the story's own, not one the service sent): `{ id, body }`. */
const storyEvent = (type, data) => {
  const id = crypto.randomUUID();
  return { id, body: JSON.stringify({ id, type, sequence: 1, timestamp: new Date().toISOString(), data }) };
};
const deletedEvent = (userId) => storyEvent("user.deleted", { user: { id: userId }, reason: "admin" });
const eraseAccount = deletedEvent(guest.user.id);
const altered = eraseAccount.body.replace(guest.user.id, kioskGuest.user.id);
const forgedSecret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
for (const [what, attempt] of [
  ["signed with another secret", () => deliver(forgedSecret, eraseAccount.id, eraseAccount.body)],
  ["unsigned", () => deliver(null, eraseAccount.id, eraseAccount.body)],
  ["altered after signing", () => deliver(WEBHOOK_SECRET, eraseAccount.id, eraseAccount.body, altered)],
]) {
  const refused = await attempt();
  check(refused.status === 400 && refused.body.error === "invalid_signature", `a delivery ${what} is a 400 invalid_signature`, refused);
}
check(JSON.stringify(names(await app(phone, "GET", "/items"))) === JSON.stringify(wardrobe), "the refused deliveries erased nothing");
check(JSON.stringify(await devItems(kioskGuest.user.id)) === JSON.stringify(["White socks"]), "nor the kiosk's item");
const eraseKiosk = deletedEvent(kioskGuest.user.id);
check((await deliver(WEBHOOK_SECRET, eraseKiosk.id, eraseKiosk.body)).status === 204, "a signed user.deleted is a 204");
check((await devItems(kioskGuest.user.id)).length === 0, "it erased the kiosk's items");
check((await app(kiosk, "POST", "/items", { name: "Black belt" })).status === 201, "the kiosk adds another item");
check((await deliver(WEBHOOK_SECRET, eraseKiosk.id, eraseKiosk.body)).status === 204, "the same webhook-id again is a 204");
check(JSON.stringify(await devItems(kioskGuest.user.id)) === JSON.stringify(["Black belt"]), "the repeated webhook-id erased nothing");
// Out of order: a user.merged that lands after its account's user.deleted erases what it would move.
const goneAccount = crypto.randomUUID();
const eraseGone = deletedEvent(goneAccount);
const lateMerge = storyEvent("user.merged", { guest: { id: kioskGuest.user.id }, user: { id: goneAccount, isGuest: false } });
check((await deliver(WEBHOOK_SECRET, eraseGone.id, eraseGone.body)).status === 204, "a signed user.deleted of an account is a 204");
check((await deliver(WEBHOOK_SECRET, lateMerge.id, lateMerge.body)).status === 204, "the user.merged into it, arriving late, is a 204");
check((await devItems(goneAccount)).length === 0 && (await devItems(kioskGuest.user.id)).length === 0, "a late merge into a deleted account leaves no items behind");
say("the webhook route: forged, unsigned and altered deliveries refused; a repeated webhook-id changes nothing; a late merge into a deleted account erases");

// 11. Account deletion from the phone: signed out, every token refused by the app, and the
// `user.deleted` webhook erases the account's items from the app's table.
check((await devItems(guest.user.id)).length === wardrobe.length, "the account's items are in the app's table before the deletion");
const phoneToken = phone.session.accessToken;
await phone.deleteAccount({ password: PASSWORD });
const deletedAt = Date.now();
check(phone.session === null, "deleting the account signs the phone out");
const afterDeletion = await appWithToken(phoneToken, "/items");
check(afterDeletion.status === 401, "the app refuses the deleted account's token", afterDeletion);
console.log(`::expect-service-log ${afterDeletion.requestId} session_ended`);
try {
  await createClient({ baseUrl: SERVICE_URL }).login({ email, password: PASSWORD });
  check(false, "the deleted account cannot sign in");
} catch (error) {
  check(error instanceof EdgeAuthError && error.code === "invalid_credentials", "the deleted account cannot sign in", error);
}
await waitFor("the account's items erased from the app's table (the user.deleted webhook)", async () => ((await devItems(guest.user.id)).length === 0 ? true : null));
say(`account deleted: signed out, its token refused, its password no longer signs in, its items erased (user.deleted, seen ${Date.now() - deletedAt} ms later)`);

console.log("story: all steps passed");
