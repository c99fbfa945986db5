/** The `mail_outbox` table (owned by src/mail/): development mail, read back by /_dev/mail and tests. */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const mailOutbox = sqliteTable(
  "mail_outbox",
  {
    id: text("id").primaryKey(),
    to: text("to").notNull(),
    subject: text("subject").notNull(),
    text: text("text").notNull(),
    html: text("html").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("mail_outbox_to_idx").on(t.to, t.createdAt)],
);
