/**
 * Admin search by prefix (issue 22 item 7): a range on the normalised columns, so a query of 50
 * characters or more is answered (SQLite refuses LIKE patterns past 50 bytes), and LIKE's own
 * characters are plain characters.
 */
import { describe, expect, it } from "vitest";
import { PASSWORD, adminCall, call, json } from "../helpers";

const search = async (query: string) => {
  const response = await adminCall(`/users?${new URLSearchParams({ query })}`);
  expect(response.status).toBe(200);
  return ((await json(response)).users as { email: string }[]).map((u) => u.email);
};

describe("GET /v1/admin/users?query=", () => {
  it("answers queries of 50 characters and more, matching a prefix case-insensitively", async () => {
    const local = `long-${crypto.randomUUID()}-${crypto.randomUUID()}`.slice(0, 60);
    const email = `${local}@example.com`;
    expect((await call("/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
    expect(await search(email.toUpperCase())).toEqual([email]);
    expect(await search(local.slice(0, 55))).toEqual([email]);
    expect(await search(`${email}x`.repeat(4).slice(0, 254))).toEqual([]);
  });

  it("takes % and _ literally", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const plain = `pct${tag}a@example.com`;
    expect((await call("/v1/auth/register", { body: { email: plain, password: PASSWORD } })).status).toBe(201);
    expect(await search(`pct${tag}`)).toEqual([plain]);
    expect(await search(`pct${tag}%`)).toEqual([]);
    expect(await search(`pct${tag}_`)).toEqual([]);
  });
});
