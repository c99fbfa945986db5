import { describe, expect, it } from "vitest";
import { guest } from "../helpers";
import { attempts, eventRows } from "./helpers";

describe("smoke", () => {
  it("a guest's user.created reaches the receiver", async () => {
    const pair = await guest();
    const rows = await eventRows(pair.user.id);
    expect(rows.map((r) => r.type)).toEqual(["user.created"]);
    expect(rows[0]!.data.user).toEqual(pair.user);
    const list = await attempts(pair.user.id, (l) => l.length >= 1);
    expect(list[0]!.verified).toBe(true);
  });
});
