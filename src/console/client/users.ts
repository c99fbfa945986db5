/**
 * The console script's sign-in and user search (browser JavaScript, kept as text; see ./index.ts).
 * Sign-in checks the typed key with one admin call before keeping it in sessionStorage; a wrong key
 * is that call's 401 (and a failed login of the address, API.md §6). The search asks the admin API
 * for an email or username prefix as the operator types (one call per pause) and lists the users
 * as links to their pages, with "Load more" for the next cursor page.
 *
 * @example
 * location.hash = "#/users"; // the search, with the last query and results kept
 */
export const USERS = String.raw`
const search = { query: "", users: [], nextCursor: null, loaded: false };
let searchRun = 0;

function showSignIn(message) {
  adminKey.clear();
  search.loaded = false;
  generation += 1;
  $("nav").hidden = true;
  view.replaceChildren();
  $("sign-in").hidden = false;
  say(message || "", message ? "error" : undefined);
  $("admin-key").focus();
}

function showApp() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("admin-key");
  const button = event.currentTarget.querySelector("button");
  const key = input.value.trim();
  if (!key) {
    say("Enter the admin key.", "error", true);
    return;
  }
  button.disabled = true;
  say("Checking the key…");
  try {
    await request("GET", "/v1/admin/users?limit=1", key);
    adminKey.set(key);
    input.value = "";
    say("");
    route();
  } catch (error) {
    say(error.status === 401 ? "That admin key was not accepted." : describe(error), "error");
    input.focus();
    input.select();
  } finally {
    button.disabled = false;
  }
});

$("sign-out").addEventListener("click", () => {
  adminKey.clear();
  history.replaceState(null, "", location.pathname);
  showSignIn();
  say("Signed out. The key is no longer kept in this tab.", "success");
});

function userRow(user) {
  const badges = [];
  if (user.disabled) badges.push(badge("Disabled", "bad"));
  if (user.isGuest) badges.push(badge("Guest"));
  else if (user.email && !user.emailVerified) badges.push(badge("Unverified", "warn"));
  if (user.mfaEnabled) badges.push(badge("2FA", "info"));
  badges.push(badge(user.sessionCount + (user.sessionCount === 1 ? " session" : " sessions")));
  return el("li", {}, el("a", { href: userLink(user.id) },
    el("span", {},
      el("span", { class: "who", text: userName(user) }),
      el("span", { class: "meta", text: user.email && user.username ? " · " + user.username : "" }),
      el("div", { class: "meta mono", text: user.id })),
    el("span", { class: "badges" }, badges),
    el("span", { class: "meta when", text: user.lastSignInAt ? "Last sign-in " + when(user.lastSignInAt) : "Never signed in" })));
}

function renderUsers() {
  setNav("users");
  const mine = generation;
  const input = el("input", { id: "search", type: "search", autocomplete: "off", spellcheck: "false", placeholder: "Email or username, or its beginning" });
  input.value = search.query;
  const list = el("ul", { class: "users list", "aria-label": "Users" });
  const summary = el("p", { class: "muted small" });
  const more = el("button", { class: "secondary more", type: "button", text: "Load more", hidden: true });

  const draw = () => {
    list.hidden = search.users.length === 0;
    list.replaceChildren(...search.users.map(userRow));
    summary.textContent = search.users.length === 0
      ? (search.query ? "No user's email or username starts with “" + search.query + "”." : "No users yet.")
      : search.users.length + (search.nextCursor ? "+" : "") + (search.users.length === 1 ? " user" : " users") + (search.query ? " starting with “" + search.query + "”" : "");
    more.hidden = !search.nextCursor;
  };

  const run = async (reset) => {
    const query = input.value.trim();
    const me = ++searchRun;
    const params = new URLSearchParams({ limit: "25" });
    if (query) params.set("query", query);
    if (!reset && search.nextCursor) params.set("cursor", search.nextCursor);
    more.disabled = true;
    try {
      const page = await api("GET", "/v1/admin/users?" + params.toString());
      if (me !== searchRun || mine !== generation) return;
      search.query = query;
      search.users = reset ? page.users : search.users.concat(page.users);
      search.nextCursor = page.nextCursor;
      search.loaded = true;
      draw();
    } catch (error) {
      if (me === searchRun && mine === generation) fail(error);
    } finally {
      more.disabled = false;
    }
  };

  let pause = null;
  input.addEventListener("input", () => {
    clearTimeout(pause);
    pause = setTimeout(() => run(true), 350);
  });
  more.addEventListener("click", () => run(false));
  const form = el("form", { class: "search", role: "search", onsubmit: (event) => {
    event.preventDefault();
    clearTimeout(pause);
    run(true);
  } }, input, el("button", { type: "submit", text: "Search" }));

  view.replaceChildren(
    el("div", { class: "head" }, el("div", {}, el("h1", { text: "Users" }), el("p", { class: "muted", text: "Find a user by the beginning of their email address or username." }))),
    el("label", { for: "search", text: "Search users" }),
    form,
    summary,
    list,
    more,
  );
  if (search.loaded) draw();
  else run(true);
  input.focus();
}
`;
