/**
 * Mail templates (src/mail/templates.ts): every mail has a text and an HTML form carrying the same
 * link, escapes what users supply, has a one-line subject and loads nothing from outside but the
 * logo it was given; register, upgrade and resend all send the same verification mail.
 */
import { describe, expect, it } from "vitest";
import { escapeHtml, resetMail, resetNoticeMail, subjectLine, verificationMail } from "../../src/mail/templates";
import type { Mail } from "../../src/mail/templates";
import { PASSWORD, call, guest, json, mailbox, uniqueEmail, uniqueUsername } from "../helpers";

const link = "https://app.example.com/reset-password?token=abc_DEF-123&email=a%2Bb%40example.com";

const mails: [string, Mail][] = [
  ["reset", resetMail({ to: "a+b@example.com", platformName: "Acme", link, minutes: 30 })],
  ["notice", resetNoticeMail({ to: "a+b@example.com", platformName: "Acme", reason: "reset" })],
  ["verification", verificationMail({ to: "a+b@example.com", platformName: "Acme", link, hours: 24 })],
];

/** Every URL an HTML mail would load or link to. */
const urlsIn = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));

describe("templates", () => {
  it.each(mails)("%s: has a subject, a text and a small self-contained HTML form", (_, mail) => {
    expect(mail.to).toBe("a+b@example.com");
    expect(mail.subject).toMatch(/Acme/);
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.text).toContain(mail.subject);
    expect(mail.html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(mail.html).toContain(`<title>${escapeHtml(mail.subject)}</title>`);
    expect(mail.html).not.toMatch(/<script|<link|<style|<iframe/i);
    expect(mail.html.length).toBeLessThan(4000);
  });

  it("puts the same link in the text and the HTML of link-bearing mails, and the duration", () => {
    const [reset, , verification] = mails.map(([, m]) => m);
    for (const mail of [reset!, verification!]) {
      expect(mail.text).toContain(`\n${link}\n`);
      expect(urlsIn(mail.html)).toEqual([link]);
    }
    expect(reset!.text).toContain("expires in 30 minutes");
    expect(verification!.text).toContain("expires in 24 hours");
  });

  it("says what happened in the notice, and carries no link", () => {
    const reset = resetNoticeMail({ to: "x@example.com", platformName: "Acme", reason: "reset" });
    const change = resetNoticeMail({ to: "x@example.com", platformName: "Acme", reason: "change" });
    expect(reset.text).toContain("every session of your account was signed out");
    expect(change.text).toContain("Your password was just changed.");
    expect(urlsIn(reset.html)).toEqual([]);
  });

  it("escapes the platform name and the logo URL, and shows the logo only when given", () => {
    const name = `</title><script>alert("x")</script> & 'Co'`;
    const mail = resetMail({ to: "x@example.com", platformName: name, logoUrl: 'https://cdn.example.com/l.png?a=1&b="2"', link, minutes: 30 });
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("&lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;");
    expect(mail.html).toContain('<img src="https://cdn.example.com/l.png?a=1&amp;b=&quot;2&quot;"');
    expect(mails[0]![1].html).not.toContain("<img");
  });

  it("keeps subjects on one line whatever the input", () => {
    expect(subjectLine("a\r\nBcc: x@example.com\u2028b\u0085c\td")).toBe("a Bcc: x@example.com b c d");
    expect(resetMail({ to: "x@example.com", platformName: "A\r\nB", link, minutes: 30 }).subject).toBe("Reset your A B password");
  });
});

describe("the verification mail of register, upgrade and resend", () => {
  /** The newest mail to `email`, with its link parsed. */
  async function verificationOf(email: string, count = 1) {
    const [mail] = await mailbox(email, count);
    const href = mail!.text.match(/https?:\/\/\S+\/verify-email\?\S+/)?.[0];
    return { mail: mail!, link: new URL(href!) };
  }

  function expectSameMachinery({ mail, link }: { mail: { subject: string; text: string; html: string }; link: URL }, email: string) {
    const token = link.searchParams.get("token")!;
    expect(`${link.origin}${link.pathname}`).toBe("http://auth.test/verify-email");
    expect(link.searchParams.get("email")).toBe(email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const expected = verificationMail({ to: email, platformName: "Edge Auth", link: link.href, hours: 24 });
    expect({ subject: mail.subject, text: mail.text, html: mail.html }).toEqual({ subject: expected.subject, text: expected.text, html: expected.html });
  }

  it("register", async () => {
    const email = uniqueEmail("tpl-register");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    expectSameMachinery(await verificationOf(email), email);
  });

  it("resend", async () => {
    const email = uniqueEmail("tpl-resend");
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    await mailbox(email, 1);
    expect((await call("/v1/auth/resend-verification", { body: { email } })).status).toBe(200);
    expectSameMachinery(await verificationOf(email, 2), email);
  });

  it("upgrade", async () => {
    const email = uniqueEmail("tpl-upgrade");
    const { accessToken } = await guest();
    const response = await call("/v1/auth/upgrade", { token: accessToken, body: { email, username: uniqueUsername(), password: PASSWORD } });
    expect(response.status).toBe(201);
    expect((await json(response)).user.email).toBe(email);
    expectSameMachinery(await verificationOf(email), email);
  });
});
