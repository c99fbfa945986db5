/**
 * The admin console's event feed (API.md §18 over §16) in headless Chromium against a real
 * `wrangler dev` whose WEBHOOKS names one endpoint, `console`, at the loopback receiver of
 * scripts/webhook-receiver.mjs (started by scripts/browser-test-service.mjs and held for the whole
 * run). The receiver checks every attempt with `standardwebhooks` and refuses (503) until this test
 * posts a rule: a sign-up's `user.created` fails its attempts, the feed in the page shows the failed
 * delivery with a button "Redeliver", and pressing it, once the receiver accepts, delivers the event
 * (checked over the admin API and at the receiver, whose copy this test verifies again).
 */
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { accountWithSession, adminApi, openConsole, scrollsSideways, signIn, violations } from "./admin-console-helpers";
import type { Json, OpenConsole } from "./admin-console-helpers";

const receiver = inject("consoleWebhook");
const verifier = new Webhook(receiver.secret);
let browser: OpenConsole | undefined;

afterAll(async () => {
  await browser?.close();
});

/** The feed's event of `type` about `userId`, paging through the whole feed from the start. */
async function findEvent(type: string, userId: string): Promise<Json | undefined> {
  let after: string | null = null;
  for (let pages = 0; pages < 50; pages++) {
    const response: Response = await adminApi(`/events?type=${type}&limit=100${after ? `&after=${after}` : ""}`);
    expect(response.status).toBe(200);
    const page = (await response.json()) as Json;
    const found = page.events.find((e: Json) => e.data?.user?.id === userId);
    if (found || !page.nextCursor) return found;
    after = page.nextCursor;
  }
  return undefined;
}

describe("the console's event feed", () => {
  it("shows a failed delivery with a button Redeliver, which delivers it", async () => {
    const account = await accountWithSession(`console-feed-${crypto.randomUUID().slice(0, 6)}`);
    // Every attempt is refused (503); with WEBHOOK_RETRY_DELAYS_SECONDS=1,1 the delivery fails in seconds.
    await expect
      .poll(async () => (await findEvent("user.created", account.userId))?.deliveries?.[0]?.status, { timeout: 45_000, interval: 1000 })
      .toBe("failed");
    const event = (await findEvent("user.created", account.userId))!;
    expect(event.deliveries).toEqual([expect.objectContaining({ endpoint: "console", status: "failed", attempts: 3 })]);

    browser = await openConsole({ width: 390, height: 844 });
    const { page } = browser;
    await signIn(page);
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByLabel("Type").selectOption("user.created");
    const row = page.locator(`li[data-event-id="${event.id}"]`);
    for (let i = 0; i < 40 && (await row.count()) === 0; i++) {
      const more = page.getByRole("button", { name: "Load more" });
      if (await more.isVisible()) await more.click();
      await page.waitForTimeout(300);
    }
    await row.waitFor();
    expect(await row.textContent()).toContain(account.email);
    expect(await row.locator("[data-status]").textContent()).toBe("failed");
    expect(await scrollsSideways(page)).toBe(false);

    // From now on the receiver accepts this user's events.
    const rule = await fetch(`${receiver.url}/rules`, { method: "POST", body: JSON.stringify({ match: account.userId, status: 200 }) });
    expect(rule.status).toBe(200);
    await row.getByRole("button", { name: "Redeliver", exact: true }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe(`Redelivery of user.created #${event.sequence} is queued.`);
    await expect
      .poll(async () => (await findEvent("user.created", account.userId))?.deliveries?.[0]?.status, { timeout: 30_000, interval: 1000 })
      .toBe("delivered");
    const attempts = (await (await fetch(`${receiver.url}/received?match=${event.id}`)).json()) as { received: Json[] };
    const delivered = attempts.received.find((r: Json) => r.status === 200);
    expect(delivered).toMatchObject({ endpoint: "console", verified: true, headers: { "webhook-id": event.id } });
    expect(() => verifier.verify(delivered.raw, delivered.headers)).not.toThrow();
    expect(attempts.received.filter((r: Json) => r.status === 503)).toHaveLength(3);
    expect(JSON.parse(delivered.raw)).toMatchObject({ id: event.id, type: "user.created", sequence: event.sequence, data: { user: { id: account.userId, email: account.email } } });
    expect(browser.problems).toEqual([]);
    expect(await violations(page)).toEqual([]);
  });
});
