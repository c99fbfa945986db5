/**
 * The second factor's notice mail (API.md §15): a recovery code was used, sent to the account's
 * verified address, rendered by the same `compose` as every other mail (src/mail/templates.ts).
 *
 * @example
 * sendMail(deps, recoveryCodeUsedMail({ to, platformName, remaining: 9 }));
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
