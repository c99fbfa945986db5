/**
 * The page a verification mail links to (`/verify-email?token=…&email=…`). Opening it changes
 * nothing: the address is confirmed only when the person clicks, by a POST to
 * /v1/auth/verify-email from the page, so mail scanners that fetch every link cannot spend the
 * token. The token leaves the address bar before anything else happens. It carries the brand of the
 * mail that linked to it, and on success says what to do next.
 *
 * @example
 * import { verifyEmailPage } from "./verify-email";
 * return c.html(verifyEmailPage(c, { brand }));
 */
import type { Context } from "hono";
import { html } from "hono/html";
import { PAGE_SCRIPT_PRELUDE, brandHeader, renderPage, returnLink } from "./html";
import type { PageBrand, PagesEnv } from "./html";

export interface VerifyPageInput {
  brand: PageBrand;
}

const body = ({ brand }: VerifyPageInput) => html`
${brandHeader(brand)}
<h1>Confirm your email for ${brand.platformName}</h1>
<div id="ask" hidden>
  <p>Confirm that <strong id="address"></strong> is your address.</p>
  <button id="confirm" type="button">Confirm my email</button>
</div>
<p id="outcome" role="status" aria-live="polite" tabindex="-1"></p>
${returnLink(brand)}
`;

const SCRIPT = `${PAGE_SCRIPT_PRELUDE}
const ASK_AGAIN = "Sign in or ask for a new verification mail, and use the newest link.";
if (!token) {
  show("This link is incomplete. " + ASK_AGAIN, "error", true);
} else {
  $("address").textContent = email || "this address";
  spendToken($("ask"), $("confirm"), "Confirming…", () => post("/v1/auth/verify-email", { token }), {
    spent: ASK_AGAIN,
    succeeded() {
      show("Your email is confirmed. You can now sign in" + ($("return") ? " from the app." : " with your email and password."), "success", true);
      showNext();
    },
  });
}
`;

export function verifyEmailPage(c: Context<PagesEnv>, input: VerifyPageInput) {
  return renderPage(c, { title: `Confirm your email for ${input.brand.platformName}`, body: body(input), script: SCRIPT });
}
