/**
 * The sessions list's views (src/sessions/session-list.ts): merged with D1's rows, a held session
 * shows the object's last use, client and exact expiry, and is left out when the object holds it
 * expired; an adopted session the object no longer holds has ended; a session not adopted yet shows
 * as D1 has it. The complete list is the store's alone. Newest use first.
 */
import { describe, expect, it } from "vitest";
import { heldViews, mergedViews } from "../../src/sessions/session-list";
import type { HeldSessionView } from "../../src/sessions/session-list";
import type { SessionRow } from "../../src/sessions/schema";
import type { SessionStateRow } from "../../src/sessions/token-store";

const NOW = 10_000_000;
const ids = (views: HeldSessionView[]) => views.map((v) => v.id);

const row = (id: string, lastUsedAt: number, hash: string | null, expiresAt: number | null = NOW + 50_000): SessionRow =>
  ({ id, userId: "u", createdAt: 1, lastUsedAt, expiresAt, revokedAt: null, revokedReason: null, ipAddress: "d1-ip", userAgent: "d1-agent", firstRefreshTokenHash: hash }) as SessionRow;

const held = (id: string, expiresAt: number | null, lastUsedAt: number | null): SessionStateRow => ({
  id, created_at: 5, expires_at: expiresAt, checked_epoch: 1, d1_expires_at: NOW + 50_000, last_used_at: lastUsedAt,
  ip_address: "object-ip", user_agent: "object-agent", aal: "aal1", amr: "password", auth_time: 1, signed_in_at: 2,
});

describe("mergedViews", () => {
  it("lays the object's last use, client and expiry over held rows, keeps rows not adopted yet, and orders by last use", () => {
    const views = mergedViews(
      [row("held", 100, null), row("unadopted", 200, "hash"), row("older-in-object", 300, null)],
      new Map([["held", held("held", NOW + 5_000, 900)], ["older-in-object", held("older-in-object", NOW + 5_000, 250)]]),
      NOW,
    );
    expect(ids(views)).toEqual(["held", "older-in-object", "unadopted"]);
    expect(views[0]).toMatchObject({ createdAt: 2, lastUsedAt: 900, ipAddress: "object-ip", userAgent: "object-agent", expiresAt: NOW + 5_000 });
    // The object's use is older than D1's (a session from before the object kept uses): D1's stays.
    expect(views[1]).toMatchObject({ lastUsedAt: 300, ipAddress: "d1-ip", expiresAt: NOW + 5_000 });
    expect(views[2]).toMatchObject({ createdAt: 1, lastUsedAt: 200, userAgent: "d1-agent", expiresAt: NOW + 50_000 });
  });

  it("leaves out a session the object holds expired, and an adopted one it no longer holds, though D1 counts both live", () => {
    const views = mergedViews(
      [row("expired-here", 100, null), row("forgotten", 200, null), row("guest", 300, null, null), row("held-unadopted", 50, "hash")],
      new Map([["expired-here", held("expired-here", NOW, 100)], ["guest", held("guest", null, null)], ["held-unadopted", held("held-unadopted", null, 400)]]),
      NOW,
    );
    expect(ids(views)).toEqual(["held-unadopted", "guest"]);
    expect(views[1]!.expiresAt).toBeNull();
  });
});

describe("heldViews (the complete list)", () => {
  it("is every unexpired held session, newest use first, a never-used one at its sign-in", () => {
    const views = heldViews([held("a", NOW + 1, 500), held("b", NOW, 900), held("c", null, null)], NOW);
    expect(ids(views)).toEqual(["a", "c"]);
    expect(views[1]).toMatchObject({ createdAt: 2, lastUsedAt: 2, expiresAt: null });
  });
});
