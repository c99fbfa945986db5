/**
 * The page a password-reset mail links to (`/reset-password?token=…&email=…`): a form for the new
 * password that posts `{ email, token, newPassword }` to POST /v1/auth/reset-password and shows the
 * outcome in a live region. The token leaves the address bar before anything else happens. It
 * carries the brand of the mail that linked to it, and on success says what to do next (with a
 * link back to the app when the mail was sent for one).
 *
 * @example
 * import { resetPasswordPage } from "./reset-password";
 * return c.html(resetPasswordPage(c, { brand, minLength: 8 }));
 */
import type { Context } from "hono";
import { html } from "hono/html";
import { MAX_PASSWORD_LENGTH } from "../accounts/passwords";
import { PAGE_SCRIPT_PRELUDE, brandHeader, renderPage, returnLink } from "./html";
import type { PageBrand, PagesEnv } from "./html";

export interface ResetPageInput {
  brand: PageBrand;
  minLength: number;
}

// The password inputs have no `name`, so even a submission the script did not catch (CSP forbids
// it anyway) could not carry them anywhere.
const body = ({ brand, minLength }: ResetPageInput) => html`
${brandHeader(brand)}
<h1>Choose a new ${brand.platformName} password</h1>
<form id="form" hidden novalidate>
  <label for="email">Email</label>
  <input id="email" type="email" autocomplete="username" readonly>
  <label for="password">New password</label>
  <input id="password" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="${MAX_PASSWORD_LENGTH}" aria-describedby="password-hint">
  <p id="password-hint" class="hint">At least ${minLength} characters. A few unrelated words make a strong one.</p>
  <label for="confirm">Repeat the new password</label>
  <input id="confirm" type="password" autocomplete="new-password" required maxlength="${MAX_PASSWORD_LENGTH}">
  <button id="submit" type="submit">Set new password</button>
</form>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
${returnLink(brand)}
`;

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const form = $("form");
const password = $("password");
const confirmation = $("confirm");
const submit = $("submit");
const ASK_AGAIN = "Ask for a new password-reset mail and use the newest link.";
if (!token || !email) {
  show("This link is incomplete. " + ASK_AGAIN, "error", true);
} else {
  $("email").value = email;
  form.hidden = false;
  password.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (password.value.length < Number(password.minLength)) {
      show("The new password must be at least " + password.minLength + " characters.", "error", false);
      password.focus();
      return;
    }
    if (password.value !== confirmation.value) {
      show("The two passwords differ. Type the same password twice.", "error", false);
      confirmation.focus();
      return;
    }
    submit.disabled = true;
    show("Saving…", "pending", false);
    try {
      const result = await post("/v1/auth/reset-password", { email, token, newPassword: password.value });
      if (result.ok) {
        form.hidden = true;
        form.reset();
        show("Your password is set. Every session was signed out: sign in again with your new password.", "success", true);
        showNext();
        return;
      }
      const weak = fieldIssue(result.data, "newPassword");
      if (result.status === 429) show("Too many attempts. Wait a minute, then try again.", "error", true);
      else if (weak) { show("The new password " + weak.message + ".", "error", false); password.focus(); }
      else if (fieldIssue(result.data, "token")) { form.hidden = true; show("This link is invalid, already used or expired. " + ASK_AGAIN, "error", true); }
      else show("That did not work (" + (result.data.message || result.status) + "). Try again.", "error", true);
    } catch {
      show("The service could not be reached. Check your connection and try again.", "error", true);
    } finally {
      submit.disabled = false;
    }
  });
}
`;

export function resetPasswordPage(c: Context<PagesEnv>, input: ResetPageInput) {
  return renderPage(c, { title: `Reset your ${input.brand.platformName} password`, body: body(input), script: SCRIPT });
}
