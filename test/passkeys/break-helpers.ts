/**
 * Shared by the slice 6 passkey review's tests (challenge-break*.test.ts): enrolling a software
 * passkey, fresh sign-in options and bodies, the account's count and events, the challenge object's
 * marks, sending through a Worker with other bindings, and (slice 10's tests) a passkey row's stored
 * forms and its rewrite into the text form of the version before.
 *
 * @example
 * const { account, credential } = await enrolled("label");
 * const response = await passkeyLogin(credential, { counter: 0 });
 */
import { runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { PASSWORD, call, env, json, login, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { countActivity } from "../helpers/activity";
import { fetchWith, userObject } from "../helpers/edge";
import { assert, attest, b64url, softCredential } from "../helpers/webauthn";
import type { SoftCredential } from "../helpers/webauthn";

export type Bend = Partial<Parameters<typeof assert>[1]>;
export type Send = (path: string, options: Parameters<typeof call>[1]) => Promise<Response>;

/** Registers a new ES256 software credential (counter 0) for the token's account. */
export async function addPasskey(token: string): Promise<SoftCredential> {
  const { challengeId, options } = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token }));
  const credential = await softCredential("ES256");
  const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
  expect((await call("/v1/auth/passkeys/register", { body: { challengeId, response }, token })).status).toBe(201);
  return credential;
}

/** A verified password account with one passkey. */
export async function enrolled(label: string) {
  const account = await verifiedAccount(label);
  const pair = await login(account);
  return { account, pair, credential: await addPasskey(pair.accessToken) };
}

/** Fresh sign-in options: the id and the challenge (base64url). */
export async function loginOptions(send: Send = call): Promise<{ challengeId: string; challenge: string }> {
  const response = await send("/v1/auth/passkeys/login/options", { method: "POST" });
  expect(response.status).toBe(200);
  const { challengeId, options } = await json(response);
  return { challengeId, challenge: options.challenge };
}

/** A sign-in body: fresh options answered by `credential` bent by `bend`. */
export async function signInBody(credential: SoftCredential, bend: Bend = {}, send: Send = call) {
  const { challengeId, challenge } = await loginOptions(send);
  return { challengeId, response: await assert(credential, { challenge, ...bend }) };
}

export const passkeyLogin = async (credential: SoftCredential, bend: Bend = {}, send: Send = call) =>
  send("/v1/auth/passkeys/login", { body: await signInBody(credential, bend, send) });

export const wrongPassword = (email: string, send: Send = call) => send("/v1/auth/login", { body: { email, password: `${PASSWORD}-wrong` } });

/** The account's failed-login count in D1 (`login:<user id>`), 0 when it has no row. */
export const attemptCount = async (userId: string) =>
  (await env.DB.prepare("SELECT count FROM counters WHERE key = ?").bind(`login:${userId}`).first<number>("count")) ?? 0;
export const failedEvents = (userId: string, method?: string) => countActivity(userId, "sign_in_failed", method);
/** Live sessions in D1, once the user's object wrote what it owes. */
export async function liveSessions(userId: string): Promise<number> {
  await userObject(userId).settle();
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL").bind(userId).first<number>("n")) ?? 0;
}
export const signCount = (userId: string) => env.DB.prepare("SELECT sign_count FROM passkeys WHERE user_id = ?").bind(userId).first<number>("sign_count");
/** What the challenge's own object keeps (its synchronous KV), without creating anything but an empty object. */
export const challengeMarks = (challengeId: string) =>
  runInDurableObject(env.LOGIN_CHALLENGES.get(env.LOGIN_CHALLENGES.idFromName(challengeId)), async (_object, state) => ({
    keys: [...state.storage.kv.list()].map(([key]) => key),
    alarm: await state.storage.getAlarm(),
  }));

/** How many of each status. */
export const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((all, s) => ({ ...all, [s]: (all[s] ?? 0) + 1 }), {});
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends to the Worker with `environment` instead of the real bindings (test/helpers/edge.ts). */
export const via = (environment: Env): Send => (path, options) => fetchWith(environment, path, options);

/** A UUID with the id's letters upper-cased at every other position (mixed case). */
export const mixedCase = (id: string) => [...id].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join("");

/** Bytes of upper- or lower-case hex (SQLite's `hex()`). */
export const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

/** A passkey's id as text whichever form its row keeps (16 bytes since issue 27 slice 11: src/db/uuid-bytes.ts). */
export const PK_TEXT = "CASE typeof(id) WHEN 'blob' THEN lower(substr(hex(id), 1, 8) || '-' || substr(hex(id), 9, 4) || '-' || substr(hex(id), 13, 4) || '-' || substr(hex(id), 17, 4) || '-' || substr(hex(id), 21)) ELSE id END";

/** `WHERE` a passkey's id (bound as `?1`, its text) in either stored form. */
export const PK_IS = "id IN (?1, unhex(replace(?1, '-', '')))";

/**
 * Each of the user's passkeys, oldest first: its id as text (`pk`) and the stored type of it
 * (`pkForm`), the stored type of each binary field (`idForm`, `keyForm`, `handleForm`: "blob" or
 * "text") and their bytes as SQLite's upper-case hex (`id`, `key`, `handle`).
 */
export async function stored(userId: string): Promise<Json[]> {
  const rows = await env.DB.prepare(
    `SELECT ${PK_TEXT} AS pk, typeof(id) AS pkForm, typeof(credential_id) AS idForm, typeof(public_key) AS keyForm, typeof(user_handle) AS handleForm, hex(credential_id) AS id, hex(public_key) AS key, hex(user_handle) AS handle FROM passkeys WHERE user_id = ? ORDER BY created_at, rowid`,
  )
    .bind(userId)
    .all<Json>();
  return rows.results;
}

/** One passkey row (by its id) rewritten in the base64url text the version before slice 10 wrote (its id as text too). */
export async function oneToText(pk: string) {
  const row = await env.DB.prepare(`SELECT hex(credential_id) AS id, hex(public_key) AS key, hex(user_handle) AS handle FROM passkeys WHERE ${PK_IS}`).bind(pk).first<Json>();
  await env.DB.prepare(`UPDATE passkeys SET credential_id = ?2, public_key = ?3, user_handle = ?4, id = ?1 WHERE ${PK_IS}`)
    .bind(pk, b64url(fromHex(row!.id)), b64url(fromHex(row!.key)), b64url(fromHex(row!.handle)))
    .run();
}
