/**
 * The sessions list's merge of D1's rows with the user object's (src/sessions/session-list.ts): an
 * adopted session shows the object's last use, client and exact expiry, and is left out when the
 * object no longer holds it or holds it expired (D1's expiry may be later: src/sessions/vouch.ts);
 * a session not adopted yet shows as D1 has it. Newest use first.
 */
import { describe, expect, it } from "vitest";
import { heldSessionViews } from "../../src/sessions/session-list";
import type { SessionRow } from "../../src/sessions/schema";
import type { SessionStateRow } from "../../src/sessions/token-store";

const NOW = 10_000_000;

const row = (id: string, lastUsedAt: number, hash: string | null, expiresAt: number | null = NOW + 50_000): SessionRow =>
  ({ id, userId: "u", createdAt: 1, lastUsedAt, expiresAt, revokedAt: null, revokedReason: null, ipAddress: "d1-ip", userAgent: "d1-agent", firstRefreshTokenHash: hash }) as SessionRow;

const held = (id: string, expiresAt: number | null, lastUsedAt: number | null): SessionStateRow => ({
  id, created_at: 1, expires_at: expiresAt, checked_epoch: 1, d1_expires_at: NOW + 50_000, last_used_at: lastUsedAt,
  ip_address: "object-ip", user_agent: "object-agent", aal: "aal1", amr: "password", auth_time: 1,
});

describe("heldSessionViews", () => {
  it("lays the object's last use, client and expiry over adopted rows, keeps unadopted rows, and orders by last use", () => {
    const views = heldSessionViews(
      [row("adopted", 100, null), row("unadopted", 200, "hash"), row("stale-in-object", 300, null)],
      new Map([["adopted", held("adopted", NOW + 5_000, 900)], ["stale-in-object", held("stale-in-object", NOW + 5_000, 250)]]),
      NOW,
    );
    expect(views.map((v) => v.id)).toEqual(["adopted", "stale-in-object", "unadopted"]);
    expect(views[0]).toMatchObject({ lastUsedAt: 900, ipAddress: "object-ip", userAgent: "object-agent", expiresAt: NOW + 5_000 });
    // The object's use is older than D1's (a session from before the object kept uses): D1's stays.
    expect(views[1]).toMatchObject({ lastUsedAt: 300, ipAddress: "d1-ip", expiresAt: NOW + 5_000 });
    expect(views[2]).toMatchObject({ lastUsedAt: 200, userAgent: "d1-agent", expiresAt: NOW + 50_000 });
  });

  it("leaves out an adopted session the object holds expired or no longer holds, though D1 still counts it live", () => {
    const views = heldSessionViews(
      [row("expired-here", 100, null), row("forgotten", 200, null), row("guest", 300, null, null)],
      new Map([["expired-here", held("expired-here", NOW, 100)], ["guest", held("guest", null, null)]]),
      NOW,
    );
    expect(views.map((v) => v.id)).toEqual(["guest"]);
    expect(views[0]!.expiresAt).toBeNull();
  });
});
