/**
 * A software WebAuthn authenticator for tests: ES256 and RS256 keys from WebCrypto, authenticator
 * data built byte by byte (WebAuthn §6.1), a `none` attestation object in CBOR (a minimal encoder,
 * RFC 8949 major types 0–5), COSE public keys (RFC 9053), client data JSON, and assertion
 * signatures (DER-encoded for ECDSA, as WebAuthn wants). Every field can be bent to build the
 * wrong answers the service must refuse.
 *
 * @example
 * const credential = await softCredential("ES256");
 * const response = await attest(credential, { challenge: options.challenge, userHandle: options.user.id });
 * const assertion = await assert(credential, { challenge: loginOptions.challenge });
 */
export const ORIGIN = "http://auth.test";
export const RP_ID = "auth.test";

const encoder = new TextEncoder();

export function b64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64url(value: string): Uint8Array {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function head(major: number, length: number): Uint8Array {
  if (length < 24) return Uint8Array.of((major << 5) | length);
  if (length < 0x100) return Uint8Array.of((major << 5) | 24, length);
  if (length < 0x10000) return Uint8Array.of((major << 5) | 25, length >> 8, length & 255);
  return Uint8Array.of((major << 5) | 26, (length >>> 24) & 255, (length >> 16) & 255, (length >> 8) & 255, length & 255);
}

export type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [key: string]: Cbor };

/** Encodes integers, byte and text strings, arrays, Maps (any keys) and plain objects (text keys). */
export function cbor(value: Cbor): Uint8Array {
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = encoder.encode(value);
    return concat(head(3, bytes.length), bytes);
  }
  if (value instanceof Uint8Array) return concat(head(2, value.length), value);
  if (Array.isArray(value)) return concat(head(4, value.length), ...value.map(cbor));
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return concat(head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)]));
}

export type Algorithm = "ES256" | "RS256";

export interface SoftCredential {
  id: string;
  alg: Algorithm;
  keys: CryptoKeyPair;
  /** The last counter this authenticator signed with. */
  counter: number;
  /** The user handle the credential was created with (base64url). */
  userHandle: string | null;
}

export async function softCredential(alg: Algorithm = "ES256"): Promise<SoftCredential> {
  const keys =
    alg === "ES256"
      ? ((await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair)
      : ((await crypto.subtle.generateKey(
          { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" },
          true,
          ["sign", "verify"],
        )) as CryptoKeyPair);
  return { id: b64url(crypto.getRandomValues(new Uint8Array(32))), alg, keys, counter: 0, userHandle: null };
}

async function coseKey(credential: SoftCredential): Promise<Uint8Array> {
  const jwk = (await crypto.subtle.exportKey("jwk", credential.keys.publicKey)) as JsonWebKey;
  if (credential.alg === "ES256") {
    return cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, fromB64url(jwk.x!)], [-3, fromB64url(jwk.y!)]]));
  }
  return cbor(new Map<Cbor, Cbor>([[1, 3], [3, -257], [-1, fromB64url(jwk.n!)], [-2, fromB64url(jwk.e!)]]));
}

const sha256 = async (bytes: Uint8Array) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

export interface Bend {
  origin?: string;
  rpId?: string;
  /** User verified (flag UV); true by default. */
  uv?: boolean;
  /** User present (flag UP); true by default. */
  up?: boolean;
  type?: string;
  /** The counter to sign with; by default one more than the last. */
  counter?: number;
}

function flags(bend: Bend, extra: number): number {
  return ((bend.up ?? true) ? 0x01 : 0) | ((bend.uv ?? true) ? 0x04 : 0) | extra;
}

function clientData(type: string, challenge: string, bend: Bend): Uint8Array {
  return encoder.encode(JSON.stringify({ type: bend.type ?? type, challenge, origin: bend.origin ?? ORIGIN, crossOrigin: false }));
}

const u32 = (n: number) => Uint8Array.of((n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);

/** A RegistrationResponseJSON with a `none` attestation, as a browser would post it. */
export async function attest(credential: SoftCredential, input: { challenge: string; userHandle: string } & Bend) {
  credential.userHandle = input.userHandle;
  const counter = input.counter ?? 0;
  credential.counter = counter;
  const id = fromB64url(credential.id);
  const authData = concat(
    await sha256(encoder.encode(input.rpId ?? RP_ID)),
    Uint8Array.of(flags(input, 0x40)),
    u32(counter),
    new Uint8Array(16),
    Uint8Array.of(id.length >> 8, id.length & 255),
    id,
    await coseKey(credential),
  );
  const attestationObject = cbor({ fmt: "none", attStmt: {}, authData });
  return {
    id: credential.id,
    rawId: credential.id,
    type: "public-key",
    response: {
      clientDataJSON: b64url(clientData("webauthn.create", input.challenge, input)),
      attestationObject: b64url(attestationObject),
      transports: ["internal"],
    },
    clientExtensionResults: {},
    authenticatorAttachment: "platform",
  };
}

/** ECDSA signatures from WebCrypto are r‖s; WebAuthn wants the ASN.1 DER SEQUENCE of two INTEGERs. */
function derSignature(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let v = bytes.slice(i);
    if (v[0]! & 0x80) v = concat(Uint8Array.of(0), v);
    return concat(Uint8Array.of(0x02, v.length), v);
  };
  const body = concat(integer(raw.slice(0, 32)), integer(raw.slice(32)));
  return concat(Uint8Array.of(0x30, body.length), body);
}

/** An AuthenticationResponseJSON signed by the credential, as a browser would post it. */
export async function assert(credential: SoftCredential, input: { challenge: string; userHandle?: string | null } & Bend) {
  const counter = input.counter ?? credential.counter + 1;
  credential.counter = counter;
  const authData = concat(await sha256(encoder.encode(input.rpId ?? RP_ID)), Uint8Array.of(flags(input, 0)), u32(counter));
  const data = clientData("webauthn.get", input.challenge, input);
  const signed = concat(authData, await sha256(data));
  const signature =
    credential.alg === "ES256"
      ? derSignature(new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, credential.keys.privateKey, signed)))
      : new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", credential.keys.privateKey, signed));
  const userHandle = input.userHandle === undefined ? credential.userHandle : input.userHandle;
  return {
    id: credential.id,
    rawId: credential.id,
    type: "public-key",
    response: {
      clientDataJSON: b64url(data),
      authenticatorData: b64url(authData),
      signature: b64url(signature),
      ...(userHandle === null ? {} : { userHandle }),
    },
    clientExtensionResults: {},
    authenticatorAttachment: "platform",
  };
}
