/**
 * The WebCrypto helpers (src/crypto), directly: base64url, random tokens, SHA-256, constant-time
 * comparison, and sealing a value under a token (AES-256-GCM with a random IV).
 */
import { describe, expect, it } from "vitest";
import { base64url, constantTimeEqual, fromBase64url, isUuid, randomToken, seal, sha256, unseal } from "../../src/crypto";

describe("encoding, hashing and comparison", () => {
  it("base64url round-trips bytes with no padding or +/", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const encoded = base64url(bytes);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(fromBase64url(encoded)).toEqual(bytes);
    for (let n = 0; n < 5; n++) expect(fromBase64url(base64url(bytes.subarray(0, n)))).toEqual(bytes.subarray(0, n));
  });

  it("random tokens are 256 bits by default and never repeat", () => {
    const tokens = new Set(Array.from({ length: 100 }, () => randomToken()));
    expect(tokens.size).toBe(100);
    for (const t of tokens) expect(fromBase64url(t).length).toBe(32);
    expect(fromBase64url(randomToken(16)).length).toBe(16);
  });

  it("sha256 is the standard digest, in base64url", async () => {
    // FIPS 180-2 test vector for "abc".
    const hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const bytes = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    expect(await sha256("abc")).toBe(base64url(bytes));
  });

  it("constantTimeEqual compares contents and lengths", () => {
    expect(constantTimeEqual("same-value", "same-value")).toBe(true);
    expect(constantTimeEqual("same-value", "same-valuf")).toBe(false);
    expect(constantTimeEqual("short", "longer-value")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
  });

  it("isUuid accepts RFC 9562 ids only", () => {
    expect(isUuid(crypto.randomUUID())).toBe(true);
    expect(isUuid("00000000-0000-0000-0000-000000000000")).toBe(false);
    expect(isUuid("not-a-uuid")).toBe(false);
  });
});

describe("sealing", () => {
  it("opens with the same secret only", async () => {
    const sealed = await seal("secret-a", "the pair");
    expect(await unseal("secret-a", sealed)).toBe("the pair");
    expect(await unseal("secret-b", sealed)).toBeNull();
  });

  it("uses a fresh IV each time, so equal plaintexts seal differently", async () => {
    const a = await seal("secret", "same");
    const b = await seal("secret", "same");
    expect(a).not.toBe(b);
    expect(a.split(".")[0]).not.toBe(b.split(".")[0]);
  });

  it("refuses damaged or malformed seals", async () => {
    const sealed = await seal("secret", "payload");
    const [iv, data] = sealed.split(".") as [string, string];
    const flipped = data.slice(0, -2) + (data.at(-2) === "A" ? "B" : "A") + data.at(-1);
    expect(await unseal("secret", `${iv}.${flipped}`)).toBeNull();
    expect(await unseal("secret", data)).toBeNull();
    expect(await unseal("secret", "")).toBeNull();
    expect(await unseal("secret", "!!!.???")).toBeNull();
  });

  it("does not leave the plaintext readable in the seal", async () => {
    const sealed = await seal("secret", "visible-marker");
    expect(sealed).not.toContain("visible-marker");
    expect(new TextDecoder().decode(fromBase64url(sealed.split(".")[1]!))).not.toContain("visible-marker");
  });
});
