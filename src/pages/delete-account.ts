/**
 * The account-deletion page (`/delete-account`, API.md §9), for people who no longer have the app
 * (Google Play's web deletion). Without a token it is an email form that posts to
 * /v1/auth/request-deletion; with the mailed `?token=` (which leaves the address bar at once) it is a
 * confirm button that posts to /v1/auth/confirm-deletion. Opening it deletes nothing.
 *
 * @example
 * import { deleteAccountPage } from "./delete-account";
 * pages.get("/delete-account", ...pageSecurity, (c) => c.html(deleteAccountPage(c, { platformName: "Acme" })));
 */
import type { Context } from "hono";
import { html } from "hono/html";
import { PAGE_SCRIPT_PRELUDE, renderPage } from "./html";
import type { PagesEnv } from "./html";

/** What the account-lifecycle pages show: the service's own platform name (their mails carry no app brand). */
export interface LifecyclePageInput {
  platformName: string;
}

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const ask = $("ask");
const confirmBox = $("confirm-box");
if (!token) {
  ask.hidden = false;
  const form = $("request");
  const email = $("email");
  const send = $("send");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!email.value.trim() || !email.checkValidity()) { show("Enter the email address of your account.", "error", true); return; }
    send.disabled = true;
    show("Sending…", "pending", false);
    try {
      const result = await post("/v1/auth/request-deletion", { email: email.value.trim() });
      if (result.ok) { form.hidden = true; show("If an account uses this address, a link to delete it is on its way. It works for one hour.", "success", true); }
      else if (result.status === 429) show("Too many requests. Wait a while, then try again.", "error", true);
      else show("That did not work (" + (result.data.message || result.status) + "). Check the address and try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      send.disabled = false;
    }
  });
} else {
  spendToken(confirmBox, $("delete"), "Deleting…", () => post("/v1/auth/confirm-deletion", { token }), {
    spent: "Ask for a new one on this page.",
    succeeded() {
      show("Your account was deleted.", "success", true);
    },
  });
}
`;

export function deleteAccountPage(c: Context<PagesEnv>, input: LifecyclePageInput) {
  const body = html`
<h1>Delete your ${input.platformName} account</h1>
<div id="ask" hidden>
  <p>Enter the email address of your account. We will mail you a link to confirm the deletion.</p>
  <form id="request" novalidate>
    <label for="email">Email</label>
    <input id="email" type="email" autocomplete="email" required maxlength="254">
    <button id="send" type="submit">Email me a deletion link</button>
  </form>
</div>
<div id="confirm-box" hidden>
  <p>This deletes your account, its sessions and everything the service kept about it. It cannot be undone.</p>
  <button id="delete" class="danger" type="button">Delete my account</button>
</div>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
`;
  return renderPage(c, { title: `Delete your ${input.platformName} account`, body, script: SCRIPT });
}
