/**
 * The console script's core (browser JavaScript, kept as text; see ./index.ts): `el()` builds DOM
 * nodes, and every value becomes a Text node or an attribute value, never markup; the admin key
 * in sessionStorage; `request()`/`api()` for the admin API (the key only in the Authorization
 * header; a 401 forgets it); the status line; the confirmation dialog; dates.
 *
 * @example
 * const page = await api("GET", "/v1/admin/users?limit=25");
 * view.replaceChildren(el("h1", { text: page.users[0].email }));
 */
export const CORE = String.raw`
const KEY_NAME = "edge-auth.admin-key";
const $ = (id) => document.getElementById(id);
const view = $("view");
const statusLine = $("status");
let generation = 0;
let flash = null;

/** A DOM element: props set attributes (on* adds listeners, text sets textContent); children are nodes or text. */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const adminKey = {
  get: () => sessionStorage.getItem(KEY_NAME),
  set: (value) => sessionStorage.setItem(KEY_NAME, value),
  clear: () => sessionStorage.removeItem(KEY_NAME),
};

function say(text, kind, focus) {
  statusLine.textContent = text || "";
  if (kind) statusLine.dataset.kind = kind;
  else delete statusLine.dataset.kind;
  if (focus && text) statusLine.focus();
}

class ApiError extends Error {
  constructor(status, body, retryAfter, message) {
    super(message || (body && body.message) || "HTTP " + status);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** One call to the admin API with the given key; the answer's JSON (null for none), or an ApiError. */
async function request(method, path, key) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { authorization: "Bearer " + key, accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, null, null, "The service could not be reached. Check the connection and try again.");
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body, response.headers.get("retry-after"));
  return body;
}

/** A call with the stored key; a 401 means the key no longer works, so it is forgotten. */
async function api(method, path) {
  const key = adminKey.get();
  if (!key) {
    showSignIn("Sign in with the admin key.");
    throw new ApiError(401, null, null, "Not signed in");
  }
  try {
    return await request(method, path, key);
  } catch (error) {
    if (error.status === 401) showSignIn("The admin key was not accepted. Sign in again.");
    throw error;
  }
}

/** What an ApiError means to the person at the console. */
function describe(error) {
  if (error.status === 429) {
    const wait = Number(error.retryAfter);
    return "Too many requests. Try again in " + (wait > 0 ? wait + " second" + (wait === 1 ? "" : "s") : "a minute") + ".";
  }
  if (error.status === 0) return error.message;
  if (error.status === 404) return "Not found. It may have been deleted.";
  if (error.status === 503) return "The service is busy. Try again shortly.";
  return "That did not work: " + ((error.body && error.body.message) || "HTTP " + error.status) + ".";
}

/** Shows an error unless it was a 401 (the sign-in form says that). */
function fail(error) {
  if (error.status !== 401) say(describe(error), "error", true);
}

/** Asks to confirm in the dialog; resolves true only for its "Confirm" button. */
function confirmAction(title, text) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}
$("confirm-ok").addEventListener("click", () => $("confirm").close("confirm"));
$("confirm-cancel").addEventListener("click", () => $("confirm").close("cancel"));

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateFormat.format(date);
}
const time = (iso) => (iso ? el("time", { datetime: iso, title: iso, text: when(iso) }) : el("span", { text: "never" }));
const badge = (text, tone) => el("span", { class: "badge" + (tone ? " " + tone : ""), text });
const userName = (user) => user.email || user.username || "Guest account";
const userLink = (id) => "#/users/" + encodeURIComponent(id);

function setNav(current) {
  for (const [name, link] of [["users", $("nav-users")], ["events", $("nav-events")]]) {
    if (name === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function loading(text) {
  view.replaceChildren(el("p", { class: "muted", text: text || "Loading…" }));
}
`;
