/**
 * The admin console's one HTML document (API.md §18), rendered with `hono/html` (every value
 * escaped). It holds only the frame: the sign-in form, the bar with the links "Users" and
 * "Events", the status line and the confirmation dialog. Everything else is built by the console's
 * script (/admin/console.js) from the admin API's answers, with DOM nodes and `textContent`.
 * The style sheet and the script are the service's own, each tag carrying the response's CSP nonce.
 *
 * @example
 * c.html(consolePage({ nonce, platformName: "Edge Auth" }));
 */
import { html } from "hono/html";

export interface ConsolePageInput {
  /** The response's CSP nonce (hono/secure-headers). */
  nonce: string;
  /** The service's PLATFORM_NAME, shown in the bar and the title. */
  platformName: string;
}

export const consolePage = ({ nonce, platformName }: ConsolePageInput) => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>Admin console · ${platformName}</title>
<link rel="stylesheet" href="/admin/console.css" nonce="${nonce}">
<script src="/admin/console.js" nonce="${nonce}" defer></script>
</head>
<body>
<header class="bar">
  <span class="brand">${platformName}<span class="tag">Admin</span></span>
  <nav id="nav" aria-label="Console" hidden>
    <a id="nav-users" href="#/users">Users</a>
    <a id="nav-events" href="#/events">Events</a>
    <button id="sign-out" class="ghost" type="button">Sign out</button>
  </nav>
</header>
<main>
  <p id="status" role="status" aria-live="polite" tabindex="-1"></p>
  <section id="sign-in" class="sign-in card" hidden>
    <h1>Admin console</h1>
    <p class="muted">Enter the service's admin key. It is kept in this tab only and forgotten when the tab closes.</p>
    <form id="sign-in-form" method="post" novalidate>
      <label for="admin-key">Admin key</label>
      <input id="admin-key" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" required>
      <button type="submit">Sign in</button>
    </form>
  </section>
  <div id="view"></div>
  <noscript><p>The admin console needs JavaScript.</p></noscript>
</main>
<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <h2 id="confirm-title"></h2>
  <p id="confirm-text"></p>
  <div class="actions">
    <button id="confirm-cancel" class="secondary" type="button">Cancel</button>
    <button id="confirm-ok" class="danger" type="button">Confirm</button>
  </div>
</dialog>
</body>
</html>`;
