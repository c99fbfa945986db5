/**
 * Every mail the service sends, in one place: password reset, the notice after a password reset
 * or change, and email verification (register, upgrade and resend all use `verificationMail`).
 * Each mail is described once (title, paragraphs, optional button) and rendered to both text and
 * HTML by `compose`, so the two forms cannot drift apart. The HTML is written with `hono/html`,
 * which escapes every interpolated value unless it is marked raw (none is), so values that come
 * from users (platform name, logo URL, links) cannot add markup; subjects carry no control
 * characters (no CR/LF header injection).
 *
 * @example
 * import { resetMail } from "./templates";
 * const mail = resetMail({ to, platformName: "Acme", link, minutes: 30 });
 * // { to, subject: "Reset your Acme password", text: "…", html: "<!doctype html>…" }
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

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

/**
 * Hand escaping with numeric character references, kept for the pages and the dev outbox until
 * they render through `hono/html` too; mail no longer uses it.
 */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One line, no control or line-separator characters: safe as a mail header. */
export const subjectLine = (value: string) =>
  value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s+/g, " ").trim();

/** The markup as a string: mail markup has no async parts, so `html` returns it at once. */
function markup(value: HtmlEscapedString | Promise<HtmlEscapedString>): string {
  if (value instanceof Promise) throw new Error("mail markup must be synchronous");
  return value.toString();
}

/** One paragraph per text, one per line. */
const paragraphs = (texts: string[]) =>
  texts.map((text, i) => html`${i > 0 ? "\n" : ""}<p style="margin:0 0 16px;line-height:1.5">${text}</p>`);

function renderHtml(d: Description): string {
  const { brand, action } = d;
  const header = brand.logoUrl
    ? html`<img src="${brand.logoUrl}" alt="${brand.platformName}" height="40" style="display:block;margin:0 0 24px;border:0">`
    : html`<p style="font-weight:600;font-size:18px;margin:0 0 24px">${brand.platformName}</p>`;
  const button = action
    ? html`<p style="margin:24px 0"><a href="${action.href}" style="background:#1a56db;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block">${action.label}</a></p>
<p style="margin:0 0 16px;font-size:13px;color:#555">If the button does not work, paste this link into your browser:<br><span style="word-break:break-all">${action.href}</span></p>`
    : "";
  return markup(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${d.title}</title></head>
<body style="margin:0;padding:24px;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;background:#fff">
<div style="max-width:560px;margin:0 auto">
${header}<h1 style="font-size:20px;margin:0 0 16px">${d.title}</h1>
${paragraphs(d.intro)}
${button}
${paragraphs(d.outro ?? [])}
</div></body></html>`);
}

function renderText(d: Description): string {
  const parts = [d.title, ...d.intro, ...(d.action ? [d.action.href] : []), ...(d.outro ?? [])];
  return `${parts.join("\n\n")}\n\n— ${d.brand.platformName}\n`;
}

export function compose(d: Description): Mail {
  return { to: d.to, subject: subjectLine(d.title), text: renderText(d), html: renderHtml(d) };
}

/**
 * A mail whose button is a one-time link (`input.link`) for `input.to`, under `title` (also the
 * subject): `ask` before the button, `outro` after it (say how long the link works there).
 */
export function linkMail(
  input: Branding & { to: string; link: string },
  title: string,
  text: { ask: string; button: string; outro: string[] },
): Mail {
  return compose({ to: input.to, brand: input, title, intro: [text.ask], action: { label: text.button, href: input.link }, outro: text.outro });
}

export function resetMail(input: Branding & { to: string; link: string; minutes: number }): Mail {
  return linkMail(input, `Reset your ${input.platformName} password`, {
    ask: "Someone asked to reset the password of your account. If it was you, choose a new password with this link:",
    button: "Choose a new password",
    outro: [`The link works once and expires in ${input.minutes} minutes.`, "If you did not ask, ignore this mail: your password stays as it is."],
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
  return linkMail(input, `Confirm your email for ${input.platformName}`, {
    ask: "Confirm that this address belongs to you with this link:",
    button: "Confirm email",
    outro: [`The link works once and expires in ${input.hours} hours.`, "If you did not sign up, ignore this mail."],
  });
}
