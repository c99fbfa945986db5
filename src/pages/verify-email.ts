/**
 * The page a verification mail links to (`/verify-email?token=…&email=…`). Opening it changes
 * nothing: the address is confirmed only when the person clicks, by a POST to
 * /v1/auth/verify-email from the page, so mail scanners that fetch every link cannot spend the
 * token. The token leaves the address bar before anything else happens.
 *
 * @example
 * import { verifyEmailPage } from "./verify-email";
 * const html = verifyEmailPage({ nonce, platformName: "Acme" });
 */
import { escapeHtml } from "../mail/templates";
import { PAGE_SCRIPT_PRELUDE, renderPage } from "./html";

export interface VerifyPageInput {
  nonce: string;
  platformName: string;
}

const body = (input: VerifyPageInput) => `
<h1>Confirm your email for ${escapeHtml(input.platformName)}</h1>
<div id="ask" hidden>
  <p>Confirm that <strong id="address"></strong> is your address.</p>
  <button id="confirm" type="button">Confirm my email</button>
</div>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
`;

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const ask = $("ask");
const button = $("confirm");
const ASK_AGAIN = "Sign in or ask for a new verification mail, and use the newest link.";
if (!token) {
  show("This link is incomplete. " + ASK_AGAIN, "error", true);
} else {
  $("address").textContent = email || "this address";
  ask.hidden = false;
  button.focus();
  button.addEventListener("click", async () => {
    button.disabled = true;
    show("Confirming…", "pending", false);
    try {
      const result = await post("/v1/auth/verify-email", { token });
      if (result.ok) {
        ask.hidden = true;
        show("Your email is confirmed. You can now sign in.", "success", true);
        return;
      }
      if (result.status === 429) show("Too many attempts. Wait a minute, then try again.", "error", true);
      else if (fieldIssue(result.data, "token")) { ask.hidden = true; show("This link is invalid, already used or expired. " + ASK_AGAIN, "error", true); }
      else show("That did not work (" + (result.data.message || result.status) + "). Try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      button.disabled = false;
    }
  });
}
`;

export function verifyEmailPage(input: VerifyPageInput): string {
  return renderPage({ nonce: input.nonce, title: `Confirm your email for ${input.platformName}`, body: body(input), script: SCRIPT });
}
