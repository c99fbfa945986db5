/**
 * Provider addresses (issue 22 item 3): an ID token's email passes the validation every other door
 * applies (API.md §2: src/accounts/email-address.ts), exactly as sent, and is matched as §2
 * compares addresses. One that fails is treated as absent, verified or not: it neither links to an
 * account nor becomes a new account's address.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { json, verifiedAccount } from "../helpers";
import type { Json } from "../helpers";
import { idTokenSignIn, mintIdToken } from "../helpers/oidc";
import { providerEmail } from "../../src/identities/id-token";

async function signInWith(email: unknown): Promise<Json> {
  const response = await idTokenSignIn({ idToken: await mintIdToken({ sub: `pe-${crypto.randomUUID()}`, email, email_verified: true }) });
  expect(response.status).toBe(200);
  return json(response);
}

describe("a provider's verified email", () => {
  it("that folds into someone's address (fullwidth letter, trailing U+3000) neither links nor signs into it", async () => {
    const victim = await verifiedAccount("pe-victim");
    const [local, domain] = victim.email.split("@") as [string, string];
    // The first letter in its fullwidth form (U+FF41… for a…): NFKC folds it back to ASCII.
    const fullwidth = `${String.fromCharCode(0xfee0 + local.charCodeAt(0))}${local.slice(1)}@${domain}`;
    for (const lookalike of [fullwidth, `${victim.email}\u3000`, ` ${victim.email}`, victim.email.toUpperCase().replace("@", "\uff20")]) {
      const pair = await signInWith(lookalike);
      expect(pair.user.id).not.toBe(victim.userId);
      expect(pair.user.email).toBeNull();
      expect(pair.user.emailVerified).toBe(false);
    }
    const links = await env.DB.prepare("SELECT COUNT(*) AS n FROM identities WHERE user_id = ?").bind(victim.userId).first<number>("n");
    expect(links).toBe(0);
  });

  it("that fails the address rules (x@y, no domain, too long) is no email: a new account without one", async () => {
    for (const bad of ["x@y", "nobody@", "a@b.c@d.com", `${"a".repeat(65)}@example.com`, "ada@exa mple.com"]) {
      const pair = await signInWith(bad);
      expect(pair.user).toMatchObject({ email: null, emailVerified: false, isGuest: false });
    }
  });

  it("that is valid is matched case-insensitively, as §2 compares addresses", async () => {
    const owner = await verifiedAccount("pe-owner");
    const pair = await signInWith(owner.email.toUpperCase());
    expect(pair.user.id).toBe(owner.userId);
    expect(providerEmail("Ada@Example.COM")).toBe("Ada@Example.COM");
    expect(providerEmail("ada@example.com\u3000")).toBeNull();
    expect(providerEmail(42)).toBeNull();
  });
});
