/**
 * Every mail the service sends, as text and HTML, in one place. Values from users (platform name,
 * logo URL, links) are HTML-escaped; subjects carry no CR/LF.
 *
 * @example
 * import { resetMail } from "./mail-templates";
 * const mail = resetMail({ to, platformName: "Acme", link, minutes: 30 });
 */

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

interface Branding {
  platformName: string;
  logoUrl?: string | undefined;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const subjectLine = (value: string) => value.replace(/[\r\n]+/g, " ").trim();

function layout(brand: Branding, title: string, paragraphs: string[], action?: { label: string; href: string }): string {
  const logo = brand.logoUrl
    ? `<img src="${escapeHtml(brand.logoUrl)}" alt="${escapeHtml(brand.platformName)}" height="40" style="display:block;margin:0 0 24px">`
    : `<p style="font-weight:600;font-size:18px;margin:0 0 24px">${escapeHtml(brand.platformName)}</p>`;
  const button = action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(action.href)}" style="background:#1a56db;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block">${escapeHtml(action.label)}</a></p>
<p style="font-size:13px;color:#555">Or paste this link into your browser:<br><span style="word-break:break-all">${escapeHtml(action.href)}</span></p>`
    : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family:system-ui,sans-serif;color:#111;max-width:560px;margin:0 auto;padding:24px">
${logo}<h1 style="font-size:20px">${escapeHtml(title)}</h1>
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join("\n")}
${button}</body></html>`;
}

export function resetMail(input: Branding & { to: string; link: string; minutes: number }): Mail {
  const title = `Reset your ${input.platformName} password`;
  const lines = [
    "Someone asked to reset the password of your account. If it was you, use the link below.",
    `The link works once and expires in ${input.minutes} minutes. If you did not ask, ignore this mail; your password stays as it is.`,
  ];
  return {
    to: input.to,
    subject: subjectLine(title),
    text: `${title}\n\n${lines[0]}\n\n${input.link}\n\n${lines[1]}\n`,
    html: layout(input, title, lines, { label: "Choose a new password", href: input.link }),
  };
}

export function resetNoticeMail(input: Branding & { to: string; reason: "reset" | "change" }): Mail {
  const title = `Your ${input.platformName} password was changed`;
  const lines = [
    input.reason === "reset"
      ? "Your password was just reset, and every session of your account was signed out."
      : "Your password was just changed.",
    "If this was not you, reset your password now and review your sessions.",
  ];
  return { to: input.to, subject: subjectLine(title), text: `${title}\n\n${lines.join("\n\n")}\n`, html: layout(input, title, lines) };
}

export function verificationMail(input: Branding & { to: string; link: string; hours: number }): Mail {
  const title = `Confirm your email for ${input.platformName}`;
  const lines = [
    "Confirm that this address belongs to you by opening the link below.",
    `The link works once and expires in ${input.hours} hours. If you did not sign up, ignore this mail.`,
  ];
  return {
    to: input.to,
    subject: subjectLine(title),
    text: `${title}\n\n${lines[0]}\n\n${input.link}\n\n${lines[1]}\n`,
    html: layout(input, title, lines, { label: "Confirm email", href: input.link }),
  };
}
