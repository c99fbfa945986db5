import { describe, expect, it } from "vitest";
import { call, guest, json, login, verifiedAccount } from "./helpers";

describe("smoke", () => {
  it("serves health", async () => {
    const r = await call("/health");
    expect(r.status).toBe(200);
    expect(await json(r)).toEqual({ status: "ok" });
  });
  it("guest, me, login", async () => {
    const g = await guest();
    expect(g.user.isGuest).toBe(true);
    const me = await call("/v1/auth/me", { token: g.accessToken });
    expect(me.status).toBe(200);
    const account = await verifiedAccount();
    const pair = await login(account);
    expect(pair.user.email).toBe(account.email);
  });
});
