/**
 * The page a change-of-address mail links to (`/confirm-email-change?token=…`, API.md §9). Opening
 * it changes nothing (mail scanners open links too); the person's click posts the token to
 * /v1/auth/confirm-email-change. The token leaves the address bar before anything else happens.
 *
 * @example
 * import { confirmEmailChangePage } from "./confirm-email-change";
 * c.html(confirmEmailChangePage({ nonce, platformName: "Acme" }), 200, pageHeaders(nonce));
 */
import { html } from "hono/html";
import { accountPage } from "./account-layout";
import type { LifecyclePageInput } from "./delete-account";

const SCRIPT = `
const ask = $("ask");
const button = $("confirm");
const ASK_AGAIN = "Sign in and ask for the change again, then use the newest link.";
if (!token) {
  show("This link is incomplete. " + ASK_AGAIN, "error", true);
} else {
  ask.hidden = false;
  button.focus();
  button.addEventListener("click", async () => {
    button.disabled = true;
    show("Confirming…", "pending", false);
    try {
      const result = await post("/v1/auth/confirm-email-change", { token });
      if (result.ok) {
        ask.hidden = true;
        $("address").textContent = (result.data.user && result.data.user.email) || "";
        show("Your new address is confirmed. Sign in with it from now on.", "success", true);
        return;
      }
      if (result.status === 409) { ask.hidden = true; show("Another account uses this address now, so it could not be moved.", "error", true); }
      else if (result.status === 429) show("Too many attempts. Wait a minute, then try again.", "error", true);
      else if (tokenIssue(result.data)) { ask.hidden = true; show("This link is invalid, already used or expired. " + ASK_AGAIN, "error", true); }
      else show("That did not work (" + (result.data.message || result.status) + "). Try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      button.disabled = false;
    }
  });
}
`;

export function confirmEmailChangePage(input: LifecyclePageInput) {
  const body = html`
<h1>Confirm your new email for ${input.platformName}</h1>
<div id="ask" hidden>
  <p>Move your account to the address this link was mailed to.</p>
  <button id="confirm" type="button">Confirm new email</button>
</div>
<p><strong id="address"></strong></p>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
`;
  return accountPage({ nonce: input.nonce, title: `Confirm your new email for ${input.platformName}`, body, script: SCRIPT });
}
