/**
 * edge-auth/client passes a Turnstile token through (API.md §17): `turnstileToken` on guest,
 * register, resendVerification, forgotPassword, requestDeletion and emailCode.send reaches
 * siteverify. This file starts its own Worker with Turnstile on (wrangler's unstable_startWorker,
 * fresh D1 state with the migrations applied) against the siteverify stand-in, so the `sdk`
 * project's shared service (scripts/sdk-test-service.mjs) keeps Turnstile off for every other test.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";
import { EdgeAuthError, createClient } from "../../sdk/client";
// @ts-expect-error: a plain .mjs module (the dev signing key, shared with scripts/dev.mjs)
import { generateDevKey } from "../../scripts/dev-key.mjs";
// @ts-expect-error: a plain .mjs module (the siteverify stand-in, shared with the workers project)
import { startSiteverify } from "../../scripts/siteverify-server.mjs";
import { PASSWORD, network, uniqueEmail } from "./helpers";

interface Siteverify {
  base: string;
  url: string;
  secret: string;
  close(): Promise<void>;
}

const text = (value: string) => ({ type: "plain_text" as const, value });
const quiet = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

let siteverify: Siteverify;
let worker: Awaited<ReturnType<typeof unstable_startWorker>> | undefined;
let baseUrl: string;
let state: string;

beforeAll(async () => {
  siteverify = (await startSiteverify()) as Siteverify;
  state = mkdtempSync(join(tmpdir(), "edge-auth-sdk-turnstile-"));
  const persist = join(state, "wrangler");
  const migrated = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { stdio: "pipe", env: quiet });
  if (migrated.status !== 0) throw new Error(`D1 migrations failed:\n${migrated.stdout}\n${migrated.stderr}`);
  worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      ENVIRONMENT: text("development"),
      JWT_SIGNING_KEY: text(JSON.stringify(await generateDevKey("dev-sdk-turnstile"))),
      PUBLIC_URL: text(""),
      TURNSTILE_SECRET_KEY: text(siteverify.secret),
      TURNSTILE_VERIFY_URL: text(siteverify.url),
    },
    dev: { inspector: false, server: { hostname: "127.0.0.1", port: 0 }, persist, watch: false, registry: join(state, "registry") },
  });
  await worker.ready;
  baseUrl = (await worker.url).origin;
});

afterAll(async () => {
  await worker?.dispose().catch(() => {});
  await siteverify?.close();
  if (state) rmSync(state, { recursive: true, force: true });
});

async function issueToken(): Promise<string> {
  const response = await fetch(`${siteverify.base}/__test/tokens`, { method: "POST", body: "{}" });
  return ((await response.json()) as { token: string }).token;
}

async function receivedFor(token: string): Promise<{ remoteip: string | null; secretOk: boolean }[]> {
  const response = await fetch(`${siteverify.base}/__test/received?token=${encodeURIComponent(token)}`);
  return ((await response.json()) as { received: { remoteip: string | null; secretOk: boolean }[] }).received;
}

describe("turnstileToken", () => {
  it("is required by the guarded methods: without it they throw EdgeAuthError captcha_required", async () => {
    const net = network();
    const auth = createClient({ baseUrl, fetch: net.fetch });
    const refused = await auth.guest().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(EdgeAuthError);
    expect(refused).toMatchObject({ status: 403, code: "captcha_required" });
    expect(auth.session).toBeNull();
  });

  it("reaches siteverify from every method that takes it, with the client's address", async () => {
    const net = network();
    const auth = createClient({ baseUrl, fetch: net.fetch });
    const email = uniqueEmail("sdk-turnstile");
    const calls: [string, (token: string) => Promise<unknown>][] = [
      ["guest", (turnstileToken) => auth.guest({ turnstileToken })],
      ["register", (turnstileToken) => auth.register({ email, password: PASSWORD, turnstileToken })],
      ["resendVerification", (turnstileToken) => auth.resendVerification({ email, turnstileToken })],
      ["forgotPassword", (turnstileToken) => auth.forgotPassword({ email, turnstileToken })],
      ["emailCode.send", (turnstileToken) => auth.emailCode.send({ email: uniqueEmail("sdk-turnstile-code"), turnstileToken })],
      ["requestDeletion", (turnstileToken) => auth.requestDeletion({ email: uniqueEmail("sdk-turnstile-del"), turnstileToken })],
    ];
    const addresses = new Set<string | null>();
    for (const [name, send] of calls) {
      const token = await issueToken();
      await expect(send(token), name).resolves.toBeDefined();
      const checks = await receivedFor(token);
      expect(checks, name).toHaveLength(1);
      expect(checks[0]!.secretOk, name).toBe(true);
      addresses.add(checks[0]!.remoteip);
    }
    // One client, one address (network() sends it as CF-Connecting-IP), passed on as remoteip.
    expect(addresses.size).toBe(1);
    expect([...addresses][0]).toMatch(/^10\.251\.\d+\.\d+$/);
    expect(auth.session?.user?.isGuest).toBe(true);
  });
});
