import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

function findChromium(): string | undefined {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim() || undefined;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

const executablePath = findChromium();
if (!executablePath) {
  console.warn(
    "\n\n*** SKIPPING the approvals browser test: chromium is not installed. ***\n" +
      "*** Install it with: apt-get install -y chromium                     ***\n\n",
  );
}

const policy = JSON.parse(
  readFileSync(new URL("../policies/default.json", import.meta.url), "utf8"),
);
policy.tools.binance_us_close_listen_key = {
  action: "require_approval",
  reason: "closing the listen key ends the stream for every process on the account",
};

describe.skipIf(!executablePath)("approvals page in a real browser", () => {
  let t: TestGateway;
  let browser: Browser;
  let client: Client;

  beforeAll(async () => {
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json } }\n`,
      files: { "policy.json": JSON.stringify(policy) },
      // Tools named and shaped like the Binance.US ones, so the page shows the real workload.
      extraUpstreams: [{ name: "binance-us", server: fakeUpstream() }],
    });
    client = await t.connect();
    browser = await chromium.launch({
      executablePath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("shows a held call; approve completes the client's call, reject fails it with the reason", async () => {
    // Some traffic so the page has decisions and counters to show.
    let listenKey = "";
    for (let i = 0; i < 11; i++) {
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      if (!r.isError) listenKey = (r.structuredContent as { listenKey: string }).listenKey;
    }
    await client.callTool({ name: "binance_us_keepalive_listen_key", arguments: { listenKey } });

    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await page.goto(`${t.gw.adminUrl}?token=${ADMIN_TOKEN}`);
    expect(page.url()).not.toContain("token="); // dropped from the address bar
    await page.getByText("No calls are waiting").waitFor();

    const held = client.callTool({ name: "binance_us_close_listen_key", arguments: { listenKey } });
    const card = page.locator("[data-approval]");
    await card.waitFor(); // arrives live, without a reload
    await expect(card.locator(".tool").textContent()).resolves.toBe("binance_us_close_listen_key");
    const args = (await card.locator("pre.args").textContent()) ?? "";
    expect(args).toContain("••••••");
    expect(args).not.toContain(listenKey);
    await page.locator("#grants [data-grant=demo] .limit").first().waitFor();
    await page.getByText("rate-limited").first().waitFor();
    // The waiting call already counts as held for its grant.
    await expect(
      page.locator('#grants [data-grant=demo] [data-tally="held"] strong').textContent(),
    ).resolves.toBe("1");

    // The README's screenshot is refreshed only on request, so a test run leaves the
    // working tree clean: UPDATE_SCREENSHOT=1 pnpm vitest run --project gateway browser
    const shot = process.env.UPDATE_SCREENSHOT
      ? new URL("../docs/approvals.png", import.meta.url).pathname
      : join(mkdtempSync(join(tmpdir(), "toolgate-shot-")), "approvals.png");
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(10_000);

    await card.locator('button[data-action="approve"]').click();
    const approved = await held;
    expect(approved.isError, textOf(approved)).toBeFalsy();
    await page.getByText("No calls are waiting").waitFor();

    const held2 = client.callTool({
      name: "binance_us_close_listen_key",
      arguments: { listenKey: "x".repeat(64) },
    });
    await card.waitFor();
    await card.locator("input[data-reason]").fill("not during market hours");
    await card.locator('button[data-action="reject"]').click();
    const rejected = await held2;
    expect(rejected.isError).toBe(true);
    expect(textOf(rejected)).toContain("not during market hours");
    await page.locator("#resolved .eff.deny").first().waitFor();
    await page.close();
  }, 30_000);

  it("shows hostile arguments in full as text: nothing in them runs, secrets are masked and marked", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${t.gw.adminUrl}?token=${ADMIN_TOKEN}`);
    await page.getByText("No calls are waiting").waitFor();
    const payloads = {
      tokenAddress: "0xATTACKER",
      memo: '<img src=x onerror="window.__pwned=1;alert(1)">',
      note: "</script><script>window.__pwned=2;alert(2)</script>",
      nested: {
        "<svg onload=alert(3)>": '"><iframe src=javascript:alert(4)>',
        signature_override: "0xSIG",
      },
      listenKey: "must-not-show-1234567890",
    };
    const held = client.callTool({
      name: "binance_us_close_listen_key",
      arguments: payloads,
    });
    const card = page.locator("[data-approval]");
    await card.waitFor();
    const shown = (await card.locator("pre.args").textContent()) ?? "";
    // Everything the upstream would get is there, as literal text.
    expect(JSON.parse(shown)).toEqual({
      ...payloads,
      listenKey: "••••••(masked: credential name)",
    });
    expect(shown).not.toContain("must-not-show");
    await expect(card.locator("[data-masked]").textContent()).resolves.toContain("args.listenKey");
    // Nothing was parsed as markup or ran.
    expect(await card.locator("img, script, svg, iframe").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBe(
      undefined,
    );
    expect(dialogs).toEqual([]);
    // The full digest is shown, so the approver can match it to the audit log.
    const meta = (await card.locator(".meta").textContent()) ?? "";
    expect(meta).toMatch(/digest sha256:[0-9a-f]{64}/);
    await card.locator('button[data-action="reject"]').click();
    expect((await held).isError).toBe(true);
    await page.close();
  }, 30_000);
});
