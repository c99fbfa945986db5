/**
 * Mail delivery behind one small interface, chosen by MAIL_TRANSPORT: the D1 outbox (development,
 * read back at /_dev/mail), Cloudflare's `send_email` binding, or an HTTP mail API (a Resend-style
 * JSON POST with MAIL_API_KEY as a bearer secret). Delivery runs after the answer (`waitUntil`), so
 * it never changes an answer or its timing; a failure is logged with the masked address only.
 *
 * @example
 * import { sendMail } from "./mail";
 * sendMail(deps, verificationMail({ ... })); // returns at once
 */
import { drizzle } from "drizzle-orm/d1";
import type { Config } from "./config";
import type { Deps } from "./deps";
import { log } from "./log";
import type { Mail } from "./mail-templates";
import { mailOutbox } from "./schema";
import { maskEmail } from "./users";

export interface MailTransport {
  send(mail: Mail): Promise<void>;
}

interface SendEmailBinding {
  send(message: { from: string; to: string; subject: string; text: string; html: string }): Promise<unknown>;
}

export function outboxTransport(db: D1Database): MailTransport {
  return {
    async send(mail) {
      await drizzle(db).insert(mailOutbox).values({ id: crypto.randomUUID(), createdAt: Date.now(), ...mail });
    },
  };
}

export function httpTransport(config: Config["mail"], fetcher: typeof fetch = fetch): MailTransport {
  return {
    async send(mail) {
      const response = await fetcher(config.apiUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${config.apiKey ?? ""}` },
        body: JSON.stringify({ from: config.from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html }),
      });
      if (!response.ok) throw new Error(`mail API answered ${response.status}`);
    },
  };
}

export function cloudflareTransport(binding: SendEmailBinding | undefined, from: string): MailTransport {
  return {
    async send(mail) {
      if (!binding) throw new Error("MAIL_TRANSPORT=cloudflare needs a send_email binding named EMAIL");
      await binding.send({ from, ...mail });
    },
  };
}

export function transportFor(deps: Pick<Deps, "env" | "config">): MailTransport {
  const { mail } = deps.config;
  switch (mail.transport) {
    case "outbox":
      return outboxTransport(deps.env.DB);
    case "http":
      return httpTransport(mail);
    case "cloudflare":
      return cloudflareTransport((deps.env as { EMAIL?: SendEmailBinding }).EMAIL, mail.from);
  }
}

/** Delivers after the answer; a failure is logged and changes nothing else. */
export function sendMail(deps: Deps, mail: Mail | Promise<Mail | null>): void {
  deps.waitUntil(deliver(deps, mail));
}

export async function deliver(deps: Deps, pending: Mail | Promise<Mail | null>): Promise<void> {
  let to: string | undefined;
  try {
    const mail = await pending;
    if (!mail) return;
    to = mail.to;
    await transportFor(deps).send(mail);
    log("info", "mail.sent", { requestId: deps.requestId, transport: deps.config.mail.transport, to: maskEmail(mail.to) });
  } catch (error) {
    log("error", "mail.failed", {
      requestId: deps.requestId,
      transport: deps.config.mail.transport,
      to: to ? maskEmail(to) : undefined,
      reason: error instanceof Error ? error.message : "unknown",
    });
  }
}
