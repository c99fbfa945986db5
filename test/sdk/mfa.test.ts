/**
 * edge-auth/client's second factor (API.md §15) against the real service: enrol and activate with an
 * independent TOTP (otpauth), a sign-in that meets the factor rejects with EdgeAuthError
 * `mfa_required` carrying `mfaToken` and `factors`, `mfa.verify` signs in with a code (session.aal),
 * `mfa.stepUp`, `mfa.list`, `mfa.recoveryCodes`, `mfa.removeTotp`; the server helper's verify()
 * returns aal/amr/authTime and `edgeAuth({ requireAal: "aal2" })` answers 403 to less.
 */
import { Hono } from "hono";
import * as OTPAuth from "otpauth";
import { describe, expect, it } from "vitest";
import { EdgeAuthError } from "../../sdk/client";
import { createVerifier, edgeAuth } from "../../sdk/server";
import type { EdgeAuthEnv } from "../../sdk/server";
import { PASSWORD, client, serviceUrl, signedInUser } from "./helpers";

const verifier = createVerifier({ jwksUrl: `${serviceUrl}/.well-known/jwks.json`, issuer: "edge-auth", audience: "edge-auth-clients" });

describe("edge-auth/client mfa", () => {
  it("enrols, signs in with a code after mfa_required, steps up, and the server helper sees aal2", async () => {
    const { auth, email } = await signedInUser("sdk-mfa");
    expect(auth.session?.aal).toBe("aal1");
    const { factorId, otpauthUri } = await auth.mfa.enrollTotp({ password: PASSWORD });
    const totp = OTPAuth.URI.parse(otpauthUri) as OTPAuth.TOTP;
    // Two steps' codes, each used once (API.md §15): this step's and the next's. The service takes
    // the steps next to its own, so both hold even when a request crosses a 30-second boundary
    // (the step before this one would not: CI's run of stop 37's follow-up crossed one).
    const step = Math.floor(Date.now() / 30_000);
    const activated = await auth.mfa.activateTotp({ factorId, code: totp.generate({ timestamp: step * 30_000 }) });
    expect(activated.recoveryCodes).toHaveLength(10);
    expect(auth.session?.aal).toBe("aal2");
    expect((await auth.mfa.list()).recoveryCodesRemaining).toBe(10);

    const other = client().auth;
    const error = await other.login({ email, password: PASSWORD }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeAuthError);
    expect(error).toMatchObject({ status: 403, code: "mfa_required", factors: ["totp", "recovery_code"] });
    expect(other.session).toBeNull();
    await other.mfa.verify({ mfaToken: (error as EdgeAuthError).mfaToken!, code: totp.generate({ timestamp: (step + 1) * 30_000 }) });
    expect(other.session?.aal).toBe("aal2");
    const verified = await verifier.verify(await other.getAccessToken());
    expect(verified).toMatchObject({ aal: "aal2", amr: ["password", "totp"] });
    expect(Math.abs(verified.authTime - Date.now() / 1000)).toBeLessThan(30);

    // requireAal: aal2 passes, aal1 is 403.
    const app = new Hono<EdgeAuthEnv>().use("/billing", edgeAuth({ verifier, requireAal: "aal2" })).get("/billing", (c) => c.json({ aal: c.get("auth").aal }));
    const pass = await app.request("/billing", { headers: { authorization: `Bearer ${await other.getAccessToken()}` } });
    expect(pass.status).toBe(200);
    const plain = await signedInUser("sdk-mfa-plain");
    const refused = await app.request("/billing", { headers: { authorization: `Bearer ${await plain.auth.getAccessToken()}` } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: "forbidden" });

    // Step-up of the same session with a recovery code, then renew the codes and remove the factor.
    const sessionId = other.session!.sessionId;
    await other.mfa.stepUp({ recoveryCode: activated.recoveryCodes[0] });
    expect(other.session).toMatchObject({ sessionId, aal: "aal2" });
    expect((await other.mfa.recoveryCodes({})).recoveryCodes).toHaveLength(10);
    await other.mfa.removeTotp({ factorId });
    expect(await other.mfa.list()).toEqual({ factors: [], recoveryCodesRemaining: 0 });
  });
});
