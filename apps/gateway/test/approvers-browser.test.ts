import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium, launchChromium } from "./helpers/chromium.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const executablePath = findChromium();
const ALICE = "alice-approver-token-0123456789";
const BOB = "bob-approver-token-0123456789";
const CAROL = "carol-approver-token-0123456789";
const ALICE_BOT_KEY = "alice-bot-key-0123456789";

const policy = {
  version: "1",
  default: "deny",
  tools: {
    transfer_funds: {
      action: "allow",
      secret: ["args.apiSecret"],
      approval: [
        {
          when: [{ path: "args.amount", op: "gt", value: 10_000 }],
          approvers: 2,
          from: ["risk"],
        },
        { when: [{ path: "args.amount", op: "gt", value: 1000 }] },
      ],
    },
  },
};

const config = `upstreams: []
grants:
  desk-bot: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json }
  alice-bot: { apiKey: "${ALICE_BOT_KEY}", policy: policy.json }
approvals:
  timeoutMs: 20000
  approvers:
    alice: { token: "${ALICE}", roles: [risk], actsAs: [alice-bot] }
    bob: { token: "${BOB}", roles: [risk] }
    carol: { token: "${CAROL}", roles: [ops] }
`;

/** The page's fetch, with the session cookie the browser holds (and any headers given). */
function pageFetch(page: Page, path: string, headers: Record<string, string> = {}) {
  return page.evaluate(
    async ([p, h]) => {
      const res = await fetch(p, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...h },
        body: "{}",
      });
      return {
        status: res.status,
        body: (await res.json().catch(() => ({}))) as { error?: string },
      };
    },
    [path, headers] as const,
  );
}

describe.skipIf(!executablePath)(
  "named approvers in a real browser: four eyes, CSRF, no self-approval",
  () => {
    let t: TestGateway;
    let browser: Browser;
    let bot: Client;
    const calls: string[] = [];
    const contexts: BrowserContext[] = [];

    beforeAll(async () => {
      t = await startTestGateway({
        config,
        files: { "policy.json": JSON.stringify(policy) },
        extraUpstreams: [{ name: "bank", server: fakeUpstream(calls) }],
      });
      bot = await t.connect();
      browser = await launchChromium(executablePath as string);
    }, 30_000);

    afterAll(async () => {
      await browser?.close();
      await t?.close();
    });

    async function signIn(credential: string): Promise<Page> {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(t.gw.adminUrl);
      await page.locator("#tokenInput").fill(credential);
      await page.locator("#loginForm button").click();
      await page.locator("#who").getByText("Signed in as").waitFor();
      return page;
    }

    const cardOf = (page: Page) => page.locator("[data-approval]").first();

    it("two approvers sign in; the first approval alone does not release a four-eyes call, the second does", async () => {
      const alice = await signIn(ALICE);
      const bob = await signIn(BOB);
      await expect(alice.locator("#who").textContent()).resolves.toBe("Signed in as alice (risk)");
      // The session cookie is HttpOnly and SameSite=Strict: the page's script cannot read it.
      const [cookie] = await contexts[0]!.cookies();
      expect(cookie).toMatchObject({
        name: "toolgate_approver",
        httpOnly: true,
        sameSite: "Strict",
      });
      expect(
        await alice.evaluate(
          () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
        ),
      ).toBe("");

      let settled = false;
      const held = bot
        .callTool({
          name: "transfer_funds",
          arguments: { amount: 50_000, apiSecret: "s3cr3t-value" },
        })
        .finally(() => {
          settled = true;
        });
      const aliceCard = cardOf(alice);
      await aliceCard.waitFor();
      await expect(aliceCard.locator(".progress").textContent()).resolves.toContain(
        "approvals 0 of 2",
      );
      await aliceCard.locator('button[data-action="approve"]').click();
      await aliceCard.locator(".progress").getByText("approved by alice").waitFor();
      await expect(aliceCard.locator(".progress").textContent()).resolves.toContain(
        "1 more needed",
      );
      // Alice cannot count twice.
      await expect(aliceCard.locator(".cannot").textContent()).resolves.toBe(
        "you already approved it",
      );
      const [pending] = await t.gw.approvals.listPending();
      expect(pending?.status).toBe("pending");
      expect(settled).toBe(false);
      expect(calls).not.toContain("transfer:50000");

      const bobCard = cardOf(bob);
      await bobCard.locator(".progress").getByText("approved by alice").waitFor();
      await bobCard.locator('button[data-action="approve"]').click();
      const result = await held;
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(calls).toContain("transfer:50000");
      const [done] = await t.gw.approvals.listRecent(1);
      expect(done).toMatchObject({ status: "approved", resolvedBy: "alice, bob" });
      await bob.getByText("No calls are waiting").waitFor();
    }, 40_000);

    it("one rejection ends it, even after an approval; the agent hears the reason", async () => {
      const [alice, bob] = [await signIn(ALICE), await signIn(BOB)];
      const held = bot.callTool({
        name: "transfer_funds",
        arguments: { amount: 20_000, apiSecret: "x" },
      });
      await cardOf(alice).waitFor();
      await cardOf(alice).locator('button[data-action="approve"]').click();
      await cardOf(bob).locator(".progress").getByText("approved by alice").waitFor();
      await cardOf(bob).locator("input[data-reason]").fill("beneficiary not on the whitelist");
      await cardOf(bob).locator('button[data-action="reject"]').click();
      const result = await held;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain("beneficiary not on the whitelist");
      expect(calls).not.toContain("transfer:20000");
    }, 40_000);

    it("refuses a change without the session's CSRF token, self-approval, the wrong role and the admin token", async () => {
      const alice = await signIn(ALICE);
      const aliceBot = await t.connect(ALICE_BOT_KEY);
      const own = aliceBot.callTool({
        name: "transfer_funds",
        arguments: { amount: 5000, apiSecret: "x" },
      });
      const card = cardOf(alice);
      await card.waitFor();
      const id = (await card.getAttribute("data-approval")) as string;
      // The page shows why, and the approve button is off.
      await expect(card.locator(".cannot").textContent()).resolves.toContain(
        "nobody approves their own call",
      );
      expect(await card.locator('button[data-action="approve"]').isDisabled()).toBe(true);

      const url = `/admin/api/approvals/${id}/approve`;
      // Cookie alone (what a cross-site form could make the browser send): refused.
      expect(await pageFetch(alice, url)).toMatchObject({ status: 403, body: { error: "csrf" } });
      expect(await pageFetch(alice, url, { "X-CSRF-Token": "forged" })).toMatchObject({
        status: 403,
        body: { error: "csrf" },
      });
      // With the real token (read from the session, as the page does): still not her own call.
      const csrf = await alice.evaluate(
        async () => ((await (await fetch("/admin/api/session")).json()) as { csrf: string }).csrf,
      );
      expect(await pageFetch(alice, url, { "X-CSRF-Token": csrf })).toMatchObject({
        status: 403,
        body: { error: "not_allowed" },
      });
      // Through the API with her bearer token: the same refusal.
      const api = (token: string, action = "approve") =>
        fetch(`${t.gw.url}/admin/api/approvals/${id}/${action}`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: "{}",
        });
      expect((await api(ALICE)).status).toBe(403);
      // The admin token operates but is not an approver here.
      const admin = await api(ADMIN_TOKEN);
      expect(admin.status).toBe(403);
      expect(await admin.json()).toMatchObject({ error: "not_an_approver" });
      expect((await t.gw.approvals.get(id))?.status).toBe("pending");
      // Carol (ops) may decide this one-approver call; Bob decides it by API.
      expect((await api(BOB)).status).toBe(200);
      expect((await own).isError).toBeFalsy();

      // A four-eyes call needs risk: carol (ops) is refused.
      const big = bot.callTool({
        name: "transfer_funds",
        arguments: { amount: 99_999, apiSecret: "x" },
      });
      const bigCard = alice.locator(`[data-approval]:not([data-approval="${id}"])`);
      await bigCard.waitFor();
      const bigId = (await bigCard.getAttribute("data-approval")) as string;
      const carol = await fetch(`${t.gw.url}/admin/api/approvals/${bigId}/approve`, {
        method: "POST",
        headers: { Authorization: `Bearer ${CAROL}` },
      });
      expect(carol.status).toBe(403);
      expect(((await carol.json()) as { message: string }).message).toContain(
        "needs an approver from risk",
      );
      await fetch(`${t.gw.url}/admin/api/approvals/${bigId}/reject`, {
        method: "POST",
        headers: { Authorization: `Bearer ${BOB}` },
      });
      expect((await big).isError).toBe(true);

      // The admin token is a good credential but no approver: sign-in says so, and never
      // counts it as a failed guess (the page falls back to it for operations).
      for (let i = 0; i < 12; i++) {
        const r = await fetch(`${t.gw.url}/admin/api/session`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ credential: ADMIN_TOKEN }),
        });
        expect(r.status).toBe(403);
      }
      // A sign-in form posted from another site (no JSON content type) is refused.
      const form = await fetch(`${t.gw.url}/admin/api/session`, {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ credential: BOB }),
      });
      expect(form.status).toBe(400);

      // Sign out: the page asks again, and the old cookie no longer works.
      await alice.locator("#signOut").click();
      await alice.locator("#login").waitFor();
      const after = await alice.evaluate(async () => (await fetch("/admin/api/approvals")).status);
      expect(after).toBe(401);
    }, 40_000);
  },
);
