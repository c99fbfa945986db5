/**
 * The second factor's notice mails (API.md §15), sent to the account's verified address and
 * rendered by the same `compose` as every other mail (src/mail/templates.ts): a recovery code was
 * used; the factor was turned on or off (not in the contract: without it, someone who has the
 * password alone could enrol a factor of their own, locking the owner out, unheard).
 *
 * @example
 * sendMail(deps, recoveryCodeUsedMail({ to, platformName, remaining: 9 }));
 * sendMail(deps, factorChangedMail({ to, platformName, change: "enabled" }));
 */
import { compose } from "../mail/templates";
import type { Branding, Mail } from "../mail/templates";

export function recoveryCodeUsedMail(input: Branding & { to: string; remaining: number }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `A recovery code was used on your ${input.platformName} account`,
    intro: [
      `One of your recovery codes was just used to sign in or confirm a change. ${input.remaining} unused ${input.remaining === 1 ? "code remains" : "codes remain"}.`,
      "If this was not you, change your password, renew your recovery codes and review your sessions now.",
    ],
  });
}

/** The factor was turned on (`enabled`) or off (`disabled`: by the user or an operator's reset). */
export function factorChangedMail(input: Branding & { to: string; change: "enabled" | "disabled" }): Mail {
  const on = input.change === "enabled";
  return compose({
    to: input.to,
    brand: input,
    title: `Two-step verification was turned ${on ? "on" : "off"} for your ${input.platformName} account`,
    intro: [
      on
        ? "An authenticator app was just added to your account: signing in now asks for its code."
        : "The authenticator app and the recovery codes were just removed from your account.",
      "If this was not you, reset your password now and contact support.",
    ],
  });
}
