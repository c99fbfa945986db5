/**
 * Mail delivery behind one small interface, chosen by MAIL_TRANSPORT: the D1 outbox (development,
 * read back at /_dev/mail), Cloudflare's `send_email` binding, or an HTTP mail API (a Resend-style
 * JSON POST with MAIL_API_KEY as a bearer secret). Delivery runs after the answer (`waitUntil`,
 * after a short delay), so it never changes an answer or its timing; a failure is logged with the
 * masked address only.
 *
 * @example
 * import { sendMail } from "./index";
 * sendMail(deps, verificationMail({ ... })); // returns at once
 * sendMail(deps, async () => (await findUser()) ? resetMail({ ... }) : null); // lookup after the answer too
 */
import { lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Config } from "../config";
import type { Deps } from "../http/deps";
import { log } from "../http/log";
import type { Mail } from "./templates";
import { mailOutbox } from "../db/schema";
import { maskEmail } from "../accounts/users";

export interface MailTransport {
  send(mail: Mail): Promise<void>;
}

interface SendEmailBinding {
  send(message: { from: string; to: string; subject: string; text: string; html: string }): Promise<unknown>;
}

export function outboxTransport(db: D1Database): MailTransport {
  return {
    async send(mail) {
      const { to, subject, text, html } = mail;
      await drizzle(db).insert(mailOutbox).values({ id: crypto.randomUUID(), createdAt: Date.now(), to, subject, text, html });
    },
  };
}

/** How long a mail API may take before the attempt counts as failed; waitUntil allows about 30 s in all. */
const HTTP_TIMEOUT_MS = 10_000;

/**
 * A Resend-style API: `POST MAIL_API_URL` with `Authorization: Bearer MAIL_API_KEY` and a JSON body
 * `{ from, to: [address], subject, text, html }`. The answer's body is never read or logged: it may
 * echo the address.
 */
export function httpTransport(config: Config["mail"], fetcher: typeof fetch = fetch): MailTransport {
  return {
    async send(mail) {
      const response = await fetcher(config.apiUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${config.apiKey ?? ""}`,
        },
        body: JSON.stringify({ from: config.from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html }),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`mail API answered ${response.status}`);
    },
  };
}

/**
 * Cloudflare Email Service: the `send_email` binding's structured form (`{ from, to, subject, text,
 * html }`), which builds the MIME message itself. The binding is named EMAIL.
 */
export function cloudflareTransport(binding: SendEmailBinding | undefined, from: string): MailTransport {
  return {
    async send(mail) {
      if (!binding) throw new Error("MAIL_TRANSPORT=cloudflare needs a send_email binding named EMAIL");
      await binding.send({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
  };
}

/** What delivery needs: the bindings a transport may use, the config, and an id for the logs. */
export interface MailDeps {
  env: { DB: D1Database };
  config: Config;
  requestId: string;
}

export function transportFor(deps: Pick<MailDeps, "env" | "config">): MailTransport {
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

/** A mail, or the work that finds out whether there is one to send (and composes it). */
export type PendingMail = Mail | (() => Promise<Mail | null>);

/**
 * How long delivery waits before it starts. The answer has been handed back by then, so work that
 * only some requests do (an account lookup that finds someone, a token, a D1 insert) cannot
 * delay the answer itself: measured locally, where workerd runs D1 on the same thread, starting
 * at once made answers for existing accounts about 10 ms slower (scripts/measure-forgot-timing.mjs).
 */
export const DELIVERY_DELAY_MS = 25;

/**
 * Delivers after the answer (`waitUntil`); a failure is logged and changes nothing else. Pass a
 * function rather than a started promise when finding the recipient is itself part of the secret.
 */
export function sendMail(deps: Deps, mail: PendingMail): void {
  deps.waitUntil(scheduler.wait(DELIVERY_DELAY_MS).then(() => deliver(deps, mail)));
}

/**
 * An error's message with every address in it masked: a binding may say "email to a@b.c not
 * allowed", and logs must not keep full addresses.
 */
export function safeReason(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : "unknown";
  return message.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, (address) => maskEmail(address)).slice(0, 200);
}

/** Composes `pending` and hands it to the configured transport; resolves to whether it was sent. */
export async function deliver(deps: MailDeps, pending: PendingMail): Promise<boolean> {
  let to: string | undefined;
  const transport = deps.config.mail.transport;
  try {
    const mail = typeof pending === "function" ? await pending() : pending;
    if (!mail) return false;
    to = mail.to;
    await transportFor(deps).send(mail);
    log("info", "mail.sent", { requestId: deps.requestId, transport, to: maskEmail(mail.to) });
    return true;
  } catch (error) {
    log("error", "mail.failed", { requestId: deps.requestId, transport, to: to ? maskEmail(to) : undefined, reason: safeReason(error) });
    return false;
  }
}

/** Deletes outbox mail created before `before` (ms): the daily clean-up's part. */
export function purgeOutboxStatement(db: DrizzleD1Database, before: number) {
  return db.delete(mailOutbox).where(lt(mailOutbox.createdAt, before));
}
