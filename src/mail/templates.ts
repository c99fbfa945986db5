/**
 * Every mail the service sends, in one place: password reset, the notice after a password reset
 * or change, and email verification (register, upgrade and resend all use `verificationMail`).
 * Each mail is described once (title, paragraphs, optional button) and rendered to both text and
 * HTML by `compose`, so the two forms cannot drift apart. Values that come from users (platform
 * name, logo URL, links) are HTML-escaped; subjects carry no control characters (no CR/LF header
 * injection).
 *
 * @example
 * import { resetMail } from "./templates";
 * const mail = resetMail({ to, platformName: "Acme", link, minutes: 30 });
 * // { to, subject: "Reset your Acme password", text: "…", html: "<!doctype html>…" }
 */

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Branding {
  platformName: string;
  logoUrl?: string | undefined;
}

export interface Description {
  to: string;
  brand: Branding;
  title: string;
  /** Paragraphs before the button (or all of them, when there is none). */
  intro: string[];
  action?: { label: string; href: string };
  /** Paragraphs after the button. */
  outro?: string[];
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One line, no control or line-separator characters: safe as a mail header. */
export const subjectLine = (value: string) =>
  value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s+/g, " ").trim();

const paragraph = (text: string) => `<p style="margin:0 0 16px;line-height:1.5">${escapeHtml(text)}</p>`;

function renderHtml(d: Description): string {
  const { brand, action } = d;
  const header = brand.logoUrl
    ? `<img src="${escapeHtml(brand.logoUrl)}" alt="${escapeHtml(brand.platformName)}" height="40" style="display:block;margin:0 0 24px;border:0">`
    : `<p style="font-weight:600;font-size:18px;margin:0 0 24px">${escapeHtml(brand.platformName)}</p>`;
  const button = action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(action.href)}" style="background:#1a56db;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block">${escapeHtml(action.label)}</a></p>
<p style="margin:0 0 16px;font-size:13px;color:#555">If the button does not work, paste this link into your browser:<br><span style="word-break:break-all">${escapeHtml(action.href)}</span></p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(d.title)}</title></head>
<body style="margin:0;padding:24px;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;background:#fff">
<div style="max-width:560px;margin:0 auto">
${header}<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(d.title)}</h1>
${d.intro.map(paragraph).join("\n")}
${button}
${(d.outro ?? []).map(paragraph).join("\n")}
</div></body></html>`;
}

function renderText(d: Description): string {
  const parts = [d.title, ...d.intro, ...(d.action ? [d.action.href] : []), ...(d.outro ?? [])];
  return `${parts.join("\n\n")}\n\n— ${d.brand.platformName}\n`;
}

export function compose(d: Description): Mail {
  return { to: d.to, subject: subjectLine(d.title), text: renderText(d), html: renderHtml(d) };
}

export function resetMail(input: Branding & { to: string; link: string; minutes: number }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `Reset your ${input.platformName} password`,
    intro: ["Someone asked to reset the password of your account. If it was you, choose a new password with this link:"],
    action: { label: "Choose a new password", href: input.link },
    outro: [
      `The link works once and expires in ${input.minutes} minutes.`,
      "If you did not ask, ignore this mail: your password stays as it is.",
    ],
  });
}

export function resetNoticeMail(input: Branding & { to: string; reason: "reset" | "change" }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `Your ${input.platformName} password was changed`,
    intro: [
      input.reason === "reset"
        ? "Your password was just reset, and every session of your account was signed out."
        : "Your password was just changed.",
      "If this was not you, reset your password now and review your sessions.",
    ],
  });
}

export function verificationMail(input: Branding & { to: string; link: string; hours: number }): Mail {
  return compose({
    to: input.to,
    brand: input,
    title: `Confirm your email for ${input.platformName}`,
    intro: ["Confirm that this address belongs to you with this link:"],
    action: { label: "Confirm email", href: input.link },
    outro: [
      `The link works once and expires in ${input.hours} hours.`,
      "If you did not sign up, ignore this mail.",
    ],
  });
}
