/**
 * The account-deletion page (`/delete-account`, API.md §9), for people who no longer have the app
 * (Google Play's web deletion). Without a token it is an email form that posts to
 * /v1/auth/request-deletion; with the mailed `?token=` (which leaves the address bar at once) it is a
 * confirm button that posts to /v1/auth/confirm-deletion. Opening it deletes nothing. While
 * Turnstile guards request-deletion (API.md §17), the email form shows Cloudflare's widget (explicit
 * rendering) and sends its token as `turnstileToken`, one token per request (the widget is reset
 * after each); without a site key the page says the form cannot be used (src/pages/turnstile-widget.ts).
 *
 * @example
 * import { deleteAccountPage } from "./delete-account";
 * pages.get("/delete-account", deletionPageSecurity, (c) => c.html(deleteAccountPage(c, { platformName: "Acme", widget: deletionWidget(c) })));
 */
import type { Context } from "hono";
import { html } from "hono/html";
import { PAGE_SCRIPT_PRELUDE, renderPage } from "./html";
import type { PagesEnv } from "./html";
import { WIDGET_ONLOAD } from "./turnstile-widget";
import type { DeletionWidget } from "./turnstile-widget";

/** What the account-lifecycle pages show: the service's own platform name (their mails carry no app brand). */
export interface LifecyclePageInput {
  platformName: string;
}

/** The deletion page's input: the platform name and its Turnstile widget (turnstile-widget.ts). */
export interface DeleteAccountPageInput extends LifecyclePageInput {
  widget: DeletionWidget;
}

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const ask = $("ask");
const confirmBox = $("confirm-box");
const form = $("request");
if (!token) {
  ask.hidden = false;
}
if (!token && form) {
  const email = $("email");
  const send = $("send");
  // The Turnstile widget (only while Turnstile guards request-deletion): one token per request.
  const widget = $("turnstile-widget");
  let widgetId = null;
  let turnstileToken = "";
  function renderWidget() {
    widgetId = window.turnstile.render(widget, {
      sitekey: widget.dataset.sitekey,
      callback(value) { turnstileToken = value; },
      "expired-callback"() { turnstileToken = ""; },
      "error-callback"() { turnstileToken = ""; show("The check against bots did not load. Reload the page and try again.", "error", false); },
    });
  }
  if (widget) {
    // Not just window.turnstile: an element with that id would be it (named access on window).
    if (typeof window.turnstile?.render === "function") renderWidget();
    else window.${WIDGET_ONLOAD} = renderWidget;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!email.value.trim() || !email.checkValidity()) { show("Enter the email address of your account.", "error", true); return; }
    if (widget && !turnstileToken) { show("Wait until the check above says you passed (solve it if it asks), then send again.", "error", true); return; }
    send.disabled = true;
    show("Sending…", "pending", false);
    try {
      const body = widget ? { email: email.value.trim(), turnstileToken } : { email: email.value.trim() };
      const result = await post("/v1/auth/request-deletion", body);
      if (result.ok) { form.hidden = true; show("If an account uses this address, a link to delete it is on its way. It works for one hour.", "success", true); }
      else if (result.status === 429) show("Too many requests. Wait a while, then try again.", "error", true);
      else if (result.data.error === "captcha_required") show("The check against bots did not pass. Complete it again, then send again.", "error", true);
      else if (result.status === 503) show("The service cannot check requests right now. Try again in a few seconds.", "error", true);
      else show("That did not work (" + (result.data.message || result.status) + "). Check the address and try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      send.disabled = false;
      // A token is good for one check: the next attempt needs a fresh one.
      if (widget && widgetId !== null && window.turnstile) { turnstileToken = ""; window.turnstile.reset(widgetId); }
    }
  });
} else if (token) {
  spendToken(confirmBox, $("delete"), "Deleting…", () => post("/v1/auth/confirm-deletion", { token }), {
    spent: "Ask for a new one on this page.",
    succeeded() {
      show("Your account was deleted.", "success", true);
    },
  });
}
`;

/**
 * The page for `input.platformName` (escaped), with the Turnstile widget, or the plain notice that
 * the email form cannot be used, as `input.widget` says.
 */
export function deleteAccountPage(c: Context<PagesEnv>, input: DeleteAccountPageInput) {
  const widget = input.widget;
  const ask =
    widget.kind === "unavailable"
      ? html`<p id="unavailable">Asking for a deletion link by email is not available on this page right now: its check against bots is not set up. Delete your account in the app's settings, or contact ${input.platformName}'s support.</p>`
      : html`<p>Enter the email address of your account. We will mail you a link to confirm the deletion.</p>
  <form id="request" novalidate>
    <label for="email">Email</label>
    <input id="email" type="email" autocomplete="email" required maxlength="254">
    ${widget.kind === "widget" ? html`<div id="turnstile-widget" class="turnstile" data-sitekey="${widget.siteKey}"></div>` : ""}
    <button id="send" type="submit">Email me a deletion link</button>
  </form>`;
  const body = html`
<h1>Delete your ${input.platformName} account</h1>
<div id="ask" hidden>
  ${ask}
</div>
<div id="confirm-box" hidden>
  <p>This deletes your account, its sessions and everything the service kept about it. It cannot be undone.</p>
  <button id="delete" class="danger" type="button">Delete my account</button>
</div>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
`;
  return renderPage(c, {
    title: `Delete your ${input.platformName} account`,
    body,
    script: SCRIPT,
    externalScript: widget.kind === "widget" ? widget.scriptSrc : undefined,
  });
}
