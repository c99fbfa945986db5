/**
 * Property-based fuzzing of the WebAuthn answers (registration and sign-in): valid responses from the
 * software authenticator with one part broken at a time (base64url, CBOR, authenticator data bytes,
 * client data JSON, the COSE key, ids, types), and random JSON in their place. Invariants: the
 * answer is 400 or 401 (429 once a per-account limit is reached) in the §5 shape, never a 5xx, and
 * nothing is registered. `FC_SEED=<seed>` replays a run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { call, env, errorShapeProblem, fuzzSeed, guest, json } from "../helpers";
import type { Json } from "../helpers";
import { assert, attest, b64url, cbor, fromB64url, softCredential } from "../helpers/webauthn";

const seed = fuzzSeed();
const RUNS = 40;

type Mutation = (response: Json) => void;

/** Breaks one part of a response object in place. */
function mutations(kind: "registration" | "authentication"): fc.Arbitrary<Mutation> {
  const field = kind === "registration" ? "attestationObject" : "authenticatorData";
  const byteFlip = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, bits]): Mutation => (r) => {
    const bytes = fromB64url(r.response[field]);
    if (bytes.length) bytes[at % bytes.length]! ^= bits;
    r.response[field] = b64url(bytes);
  });
  const truncate = fc.tuple(fc.constantFrom(field, "clientDataJSON", "signature"), fc.nat()).map(([name, n]): Mutation => (r) => {
    if (typeof r.response[name] !== "string") return;
    const bytes = fromB64url(r.response[name]);
    r.response[name] = b64url(bytes.slice(0, n % (bytes.length + 1)));
  });
  const clientData = fc
    .oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ type: fc.string(), challenge: fc.string(), origin: fc.string() }), fc.string())
    .map((value): Mutation => (r) => {
      r.response.clientDataJSON = b64url(new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)));
    });
  const randomCbor = fc
    .oneof(
      fc.constant<Json>({ fmt: "none", attStmt: {}, authData: new Uint8Array(10) }),
      fc.constant<Json>({ fmt: "packed", attStmt: { alg: -7, sig: new Uint8Array(64) }, authData: new Uint8Array(37) }),
      fc.constant<Json>([1, 2, 3]),
      fc.uint8Array({ maxLength: 200 }).map((authData) => ({ fmt: "none", attStmt: {}, authData })),
    )
    .map((value): Mutation => (r) => {
      r.response[field] = b64url(value instanceof Uint8Array ? value : cbor(value));
    });
  const shape = fc
    .oneof(
      fc.constantFrom("id", "rawId", "type", "response", "clientExtensionResults"),
      fc.constantFrom("response.clientDataJSON", `response.${field}`, "response.signature", "response.userHandle"),
    )
    .chain((path) => fc.tuple(fc.constant(path), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant(undefined), fc.string({ maxLength: 30 }))))
    .map(([path, value]): Mutation => (r) => {
      const [a, b] = path.split(".") as [string, string | undefined];
      if (b === undefined) r[a] = value;
      else if (r[a] && typeof r[a] === "object") r[a][b] = value;
    });
  const id = fc.stringMatching(/^[A-Za-z0-9_-]{0,60}$/).map((value): Mutation => (r) => {
    r.id = value;
    r.rawId = value;
  });
  return fc.oneof(byteFlip, truncate, clientData, randomCbor, shape, id);
}

/** Applies each mutation; one that no longer fits what an earlier one left (say, a removed field) is skipped. */
function applyAll(broken: Mutation[], response: Json) {
  for (const mutate of broken) {
    try {
      mutate(response);
    } catch {
      // The earlier mutation already broke this part.
    }
  }
}

function expectRefusal(response: Response, text: string, allowed: number[]) {
  expect(response.status, text.slice(0, 300)).toBeLessThan(500);
  expect(allowed, `status ${response.status}: ${text.slice(0, 300)}`).toContain(response.status);
  expect(errorShapeProblem(response, text)).toBeNull();
}

describe(`WebAuthn fuzz (seed ${seed})`, () => {
  it("broken registration responses are 400, never 5xx, and register nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutations("registration"), { minLength: 1, maxLength: 3 }), async (broken) => {
        const g = await guest();
        const options = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: g.accessToken }));
        const response: Json = await attest(await softCredential(), { challenge: options.options.challenge, userHandle: options.options.user.id });
        applyAll(broken, response);
        const answer = await call("/v1/auth/passkeys/register", { body: { challengeId: options.challengeId, response }, token: g.accessToken });
        const text = await answer.text();
        // A mutation that changes nothing meaningful (a truncation past the end) may still register.
        if (answer.status === 201) return;
        expectRefusal(answer, text, [400, 409]);
        const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?").bind(g.user.id).first<Json>();
        expect(count.n).toBe(0);
      }),
      { seed, numRuns: RUNS },
    );
  });

  it("broken sign-in responses are 400 or 401 (429 past the account limit), never 5xx", async () => {
    const credential = await softCredential("ES256");
    const owners: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(mutations("authentication"), { minLength: 1, maxLength: 3 }), async (broken) => {
        // A fresh guest per case, so the per-account limit does not hide later cases behind 429.
        const g = await guest();
        owners.push(g.user.id);
        const reg = await json(await call("/v1/auth/passkeys/register/options", { method: "POST", token: g.accessToken }));
        const fresh = { ...credential, id: b64url(crypto.getRandomValues(new Uint8Array(32))), counter: 0 };
        const registered = await call("/v1/auth/passkeys/register", {
          body: { challengeId: reg.challengeId, response: await attest(fresh, { challenge: reg.options.challenge, userHandle: reg.options.user.id }) },
          token: g.accessToken,
        });
        expect(registered.status).toBe(201);
        const options = await json(await call("/v1/auth/passkeys/login/options", { method: "POST" }));
        const response: Json = await assert(fresh, { challenge: options.options.challenge });
        applyAll(broken, response);
        const answer = await call("/v1/auth/passkeys/login", { body: { challengeId: options.challengeId, response } });
        const text = await answer.text();
        if (answer.status === 200) return;
        expectRefusal(answer, text, [400, 401]);
      }),
      { seed, numRuns: RUNS },
    );
  });
});
