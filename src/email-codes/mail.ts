/**
 * The sign-in code mail (API.md §11): the six digits, how long they last, and, when the client
 * named a base (baseUrl or clientAlias, §7), a link `<base>/sign-in?email=…&code=…` that its app
 * opens. The code is in the body only, never in the subject, so a lock screen's preview of the
 * subject does not show it.
 *
 * @example
 * import { codeMail } from "./mail";
 * const mail = codeMail({ to, platformName: "Acme", code: "042917", minutes: 10, link: null });
 */
import { compose } from "../mail/templates";
import type { Branding, Mail } from "../mail/templates";

/** The mail that carries a sign-in code; `link` is null when no client base was named. */
export function codeMail(input: Branding & { to: string; code: string; minutes: number; link: string | null }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `Your ${input.platformName} sign-in code`,
    intro: [`Your sign-in code is ${input.code}`, "Enter it in the app to sign in."],
    ...(input.link ? { action: { label: "Sign in", href: input.link } } : {}),
    outro: [
      `The code works once and expires in ${input.minutes} minutes.`,
      "If you did not ask for it, ignore this mail: no one can sign in without the code.",
    ],
  });
}
