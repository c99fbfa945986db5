/**
 * The page a change-of-address mail links to (`/confirm-email-change?token=…`, API.md §9). Opening
 * it changes nothing (mail scanners open links too); the person's click posts the token to
 * /v1/auth/confirm-email-change. The token leaves the address bar before anything else happens.
 *
 * @example
 * import { confirmEmailChangePage } from "./confirm-email-change";
 * pages.get("/confirm-email-change", ...pageSecurity, (c) => c.html(confirmEmailChangePage(c, { platformName: "Acme" })));
 */
import type { Context } from "hono";
import { html } from "hono/html";
import type { LifecyclePageInput } from "./delete-account";
import { PAGE_SCRIPT_PRELUDE, renderPage } from "./html";
import type { PagesEnv } from "./html";

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const ASK_AGAIN = "Sign in and ask for the change again, then use the newest link.";
if (!token) {
  show("This link is incomplete. " + ASK_AGAIN, "error", true);
} else {
  spendToken($("ask"), $("confirm"), "Confirming…", () => post("/v1/auth/confirm-email-change", { token }), {
    spent: ASK_AGAIN,
    conflict: "Another account uses this address now, so it could not be moved.",
    succeeded(result) {
      $("address").textContent = (result.data.user && result.data.user.email) || "";
      show("Your new address is confirmed. Sign in with it from now on.", "success", true);
    },
  });
}
`;

export function confirmEmailChangePage(c: Context<PagesEnv>, input: LifecyclePageInput) {
  const body = html`
<h1>Confirm your new email for ${input.platformName}</h1>
<div id="ask" hidden>
  <p>Move your account to the address this link was mailed to.</p>
  <button id="confirm" type="button">Confirm new email</button>
</div>
<p><strong id="address"></strong></p>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
`;
  return renderPage(c, { title: `Confirm your new email for ${input.platformName}`, body, script: SCRIPT });
}
