/**
 * A software passkey for the bench: an ES256 (P-256) credential that answers the service's WebAuthn
 * options the way a platform authenticator does (attestation "none", user present and verified, a
 * sign counter of 0, as synced passkeys report), in the standard JSON forms
 * (`RegistrationResponseJSON`, `AuthenticationResponseJSON`). Just enough CBOR to write the
 * attestation object and the COSE key. Bench-only; the tests have their own.
 *
 * @example
 * import { Passkey } from "./webauthn.mjs";
 * const passkey = new Passkey("http://localhost:8790");
 * const registration = passkey.register(options);             // options: PublicKeyCredentialCreationOptionsJSON
 * const assertion = passkey.assert(loginOptions.challenge);   // for POST /v1/auth/passkeys/login
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();

/** CBOR (RFC 8949) for the few shapes WebAuthn needs: maps, small integers, text and byte strings. */
function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const FLAGS = { UP: 0x01, UV: 0x04, AT: 0x40 };

export class Passkey {
  /** @param {string} origin the origin the "browser" reports in clientDataJSON */
  constructor(origin) {
    this.origin = origin;
    this.credentialId = randomBytes(32);
    this.keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.userHandle = undefined;
    this.rpId = undefined;
  }

  #clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }

  /** The `RegistrationResponseJSON` for creation options; remembers the RP ID and user handle. */
  register(options) {
    this.rpId = options.rp.id ?? new URL(this.origin).hostname; // rp.id may be left out: then the origin's host
    this.userHandle = options.user.id;
    const jwk = this.keys.publicKey.export({ format: "jwk" });
    const coseKey = new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")], [-3, Buffer.from(jwk.y, "base64url")]]);
    const idLength = Buffer.from([this.credentialId.length >> 8, this.credentialId.length & 255]);
    const authData = Buffer.concat([
      sha256(this.rpId), Buffer.from([FLAGS.UP | FLAGS.UV | FLAGS.AT]), Buffer.alloc(4), Buffer.alloc(16), idLength, this.credentialId, cbor(coseKey),
    ]);
    const attestationObject = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    return {
      id: b64url(this.credentialId), rawId: b64url(this.credentialId), type: "public-key", authenticatorAttachment: "platform",
      response: {
        clientDataJSON: b64url(this.#clientData("webauthn.create", options.challenge)), attestationObject: b64url(attestationObject),
        transports: ["internal"], publicKeyAlgorithm: -7,
      },
      clientExtensionResults: { credProps: { rk: true } },
    };
  }

  /** The `AuthenticationResponseJSON` for a login challenge (base64url, as the options carry it). */
  assert(challenge) {
    const authData = Buffer.concat([sha256(this.rpId), Buffer.from([FLAGS.UP | FLAGS.UV]), Buffer.alloc(4)]);
    const clientData = this.#clientData("webauthn.get", challenge);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientData)]), { key: this.keys.privateKey, dsaEncoding: "der" });
    return {
      id: b64url(this.credentialId), rawId: b64url(this.credentialId), type: "public-key", authenticatorAttachment: "platform",
      response: { clientDataJSON: b64url(clientData), authenticatorData: b64url(authData), signature: b64url(signature), userHandle: this.userHandle },
      clientExtensionResults: {},
    };
  }
}
