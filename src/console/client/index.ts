/**
 * The admin console's script (API.md §18), served at /admin/console.js: browser JavaScript kept as
 * text in these modules (the project's pages do the same; nothing is bundled or downloaded), run
 * in strict mode inside one function so it adds nothing to the page's globals. It builds every
 * view with DOM nodes and `textContent` (./core.ts `el`), so no value the API returns is ever
 * parsed as markup; the page's CSP also forbids markup sinks outright (Trusted Types, no policy).
 * Views follow the address's fragment: `#/users` (search), `#/users/<id>`, `#/events`.
 *
 * @example
 * c.body(CONSOLE_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" });
 */
import { CORE } from "./core";
import { EVENTS } from "./events";
import { USER } from "./user";
import { USERS } from "./users";

const ROUTER = String.raw`
function route() {
  if (!adminKey.get()) {
    showSignIn();
    return;
  }
  showApp();
  generation += 1;
  if (flash) {
    say(flash.text, flash.kind, true);
    flash = null;
  } else {
    say("");
  }
  const path = location.hash.replace(/^#/, "");
  const user = /^\/users\/([0-9a-fA-F-]{36})$/.exec(path);
  if (user) renderUser(user[1]);
  else if (path === "/events") renderEvents();
  else renderUsers();
}
window.addEventListener("hashchange", route);
route();
`;

export const CONSOLE_SCRIPT = `"use strict";\n(() => {\n${CORE}${USERS}${USER}${EVENTS}${ROUTER}})();\n`;
