/**
 * A development-only page, `/_dev/passkeys` (404 outside development like the rest of /_dev), that
 * exercises the passkey routes from a real browser: start a guest, register a passkey with
 * `navigator.credentials.create`, and sign in with `navigator.credentials.get` (discoverable), using
 * the WebAuthn JSON helpers (`PublicKeyCredential.parseCreationOptionsFromJSON`,
 * `parseRequestOptionsFromJSON`, `credential.toJSON()`). The browser test drives it with a virtual
 * authenticator (test/browser/passkeys.test.ts); developers can try their own authenticator on it.
 *
 * @example
 * // ENVIRONMENT=development, WEBAUTHN_RP_ID=localhost, WEBAUTHN_ORIGINS=http://localhost:8787
 * // open http://localhost:8787/_dev/passkeys
 */
import { Hono } from "hono";
import { raw } from "hono/html";
import { pageSecurity, renderPage } from "../pages/html";
import type { PagesEnv } from "../pages/html";

const BODY = `<h1>Passkeys (development)</h1>
<p class="hint">Start a guest (or set a token), add a passkey, then sign in with it.</p>
<button id="guest" type="button">Start a guest</button>
<button id="register" type="button">Add a passkey</button>
<button id="login" type="button">Sign in with a passkey</button>
<pre id="outcome" role="status" aria-live="polite"></pre>`;

const SCRIPT = `
"use strict";
let token = null;
const outcome = document.getElementById("outcome");
const show = (kind, value) => { outcome.dataset.kind = kind; outcome.textContent = JSON.stringify(value); };
window.setAccessToken = (value) => { token = value; };
async function post(path, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const response = await fetch(path, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(response.status + " " + data.error);
  return data;
}
const signedIn = (pair) => { token = pair.accessToken; return { userId: pair.user.id, isGuest: pair.user.isGuest, sessionId: pair.sessionId }; };
function run(action) {
  return async () => {
    outcome.textContent = "";
    delete outcome.dataset.kind;
    try { show("success", await action()); } catch (error) { show("error", String(error && error.message || error)); }
  };
}
document.getElementById("guest").addEventListener("click", run(async () => signedIn(await post("/v1/auth/guest"))));
document.getElementById("register").addEventListener("click", run(async () => {
  const { challengeId, options } = await post("/v1/auth/passkeys/register/options");
  const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
  const { passkey } = await post("/v1/auth/passkeys/register", { challengeId, response: credential.toJSON() });
  return { passkeyId: passkey.id, name: passkey.name };
}));
document.getElementById("login").addEventListener("click", run(async () => {
  const { challengeId, options } = await post("/v1/auth/passkeys/login/options");
  const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
  return signedIn(await post("/v1/auth/passkeys/login", { challengeId, response: credential.toJSON() }));
}));
`;

export const devPasskeys = new Hono<PagesEnv>().get(
  "/passkeys",
  async (c, next) => {
    c.set("brand", { platformName: c.get("config").platformName, logoUrl: null, returnUrl: null });
    await next();
  },
  ...pageSecurity,
  // BODY and SCRIPT are constant text of this file.
  (c) => c.html(renderPage(c, { title: "Passkeys (development)", body: raw(BODY), script: SCRIPT })),
);
