/**
 * The mails of the account lifecycle (API.md §9): the confirmation of a new address, the notices
 * to the old one, the deletion link and the notice after a deletion. Rendered by the same
 * `compose` (and `linkMail`, for a one-time link) as every other mail (src/mail/templates.ts).
 *
 * @example
 * import { changeEmailMail } from "./lifecycle-templates";
 * sendMail(deps, changeEmailMail({ to: newEmail, platformName, link, hours: 24 }));
 */
import { compose, linkMail } from "./templates";
import type { Branding, Mail } from "./templates";

export function changeEmailMail(input: Branding & { to: string; link: string; hours: number }): Mail {
  return linkMail(input, `Confirm your new email for ${input.platformName}`, {
    ask: "Someone asked to use this address for their account. If it was you, confirm it with this link:",
    button: "Confirm new email",
    outro: [`The link works once and expires in ${input.hours} hours.`, "If you did not ask, ignore this mail: nothing changes."],
  });
}

export function emailChangeNoticeMail(input: Branding & { to: string; newEmail: string; stage: "requested" | "changed" }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: input.stage === "requested" ? `A change of your ${input.platformName} email was requested` : `Your ${input.platformName} email was changed`,
    intro: [
      input.stage === "requested"
        ? `Someone signed in to your account asked to change its address to ${input.newEmail}. Until that address is confirmed, this one still signs in.`
        : `Your account now uses ${input.newEmail}. This address no longer signs in to it.`,
      "If this was not you, reset your password now and review your sessions.",
    ],
  });
}

export function deletionMail(input: Branding & { to: string; link: string; minutes: number }): Mail {
  return linkMail(input, `Delete your ${input.platformName} account`, {
    ask: "Someone asked to delete the account that uses this address. If it was you, confirm with this link:",
    button: "Delete my account",
    outro: [
      `The link works once and expires in ${input.minutes} minutes. Deleting cannot be undone.`,
      "If you did not ask, ignore this mail: your account stays as it is.",
    ],
  });
}

export function deletedNoticeMail(input: Branding & { to: string }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `Your ${input.platformName} account was deleted`,
    intro: ["Your account and everything the service kept about it were deleted. This address and username are free again."],
  });
}
