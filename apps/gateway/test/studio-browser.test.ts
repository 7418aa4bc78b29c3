import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binanceBuiltin } from "../src/builtins.js";
import { findChromium, launchChromium } from "./helpers/chromium.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const executablePath = findChromium();
if (!executablePath) {
  console.warn(
    "\n\n*** SKIPPING the policy studio browser test: chromium is not installed. ***\n" +
      "*** Install it with: apt-get install -y chromium                       ***\n\n",
  );
}

const POLICY = readFileSync(new URL("../policies/default.json", import.meta.url), "utf8");
const TESTS = `grant: demo
cases:
  - name: five creates a minute pass
    tool: binance_us_create_listen_key
    repeat: 5
    expect: { effect: allow }
  - name: the sixth is rate limited
    tool: binance_us_create_listen_key
    expect: { effect: deny, code: RATE_LIMITED }
  - name: keepalive is allowed
    tool: binance_us_keepalive_listen_key
    args: { listenKey: abc }
    expect: { effect: allow }
  - name: tools the policy does not name are denied
    tool: get-env
    expect: { effect: deny }
`;
const MAX_PATH = "tools.binance_us_create_listen_key.limits[0].max";
const maxInput = (page: Page) => page.locator(`#form input[data-path="${MAX_PATH}"]`);

/** Where a screenshot goes: the README's copy only when asked (keeps test runs clean). */
function shotPath(name: string): string {
  const path = process.env.UPDATE_SCREENSHOT
    ? new URL(`../docs/${name}`, import.meta.url).pathname
    : join(mkdtempSync(join(tmpdir(), "toolgate-shot-")), name);
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

describe.skipIf(!executablePath)("policy studio in a real browser", () => {
  let t: TestGateway;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const everything = createRequire(import.meta.url).resolve(
      "@modelcontextprotocol/server-everything/dist/index.js",
    );
    t = await startTestGateway({
      config: [
        "upstreams:",
        "  - { name: binance-us, builtin: binance-us }",
        `  - { name: everything, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(everything)}, stdio] }`,
        `grants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json } }`,
        "",
      ].join("\n"),
      files: { "policy.json": POLICY, "policy.test.yaml": TESTS },
      builtins: binanceBuiltin,
    });
    browser = await launchChromium(executablePath as string);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // Any script error or CSP / Trusted Types violation fails the test (refused requests,
    // such as the publish this test forces, are logged as resource errors: not counted).
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(`console: ${m.text()}`);
    });
  }, 40_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("shows the tools with their risk, edits the limit in the form, tries, tests and publishes it", async () => {
    // Some traffic first, so the tools view has live counter use to show.
    const early = await t.connect();
    for (let i = 0; i < 3; i++)
      await early.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    await early.callTool({ name: "get-env", arguments: {} });

    await page.goto(`${t.gw.adminUrl}/studio?token=${ADMIN_TOKEN}`);
    expect(page.url()).not.toContain("token=");

    // Tools view: the builtin Binance.US tools with their risk and what the policy does.
    const create = page.locator('tr[data-tool="binance_us_create_listen_key"]');
    await create.waitFor();
    await expect(create.locator("[data-risk]").textContent()).resolves.toBe("high");
    await expect(create.locator("[data-category]").textContent()).resolves.toBe("execute");
    await expect(create.locator("[data-policy]").getAttribute("data-policy")).resolves.toBe(
      "limit",
    );
    await expect(create.textContent()).resolves.toContain("live feed of account data");
    const keepalive = page.locator('tr[data-tool="binance_us_keepalive_listen_key"]');
    await expect(keepalive.locator("[data-risk]").textContent()).resolves.toBe("low");
    await expect(keepalive.textContent()).resolves.toContain("heartbeat");
    const env = page.locator('tr[data-tool="get-env"]');
    await expect(env.locator("[data-risk]").textContent()).resolves.toBe("high");
    await expect(env.textContent()).resolves.toContain("overruled");
    await page.screenshot({ path: shotPath("studio-tools.png") });

    // Editor: 10 → 5 in the form; the raw JSON follows and validation passes.
    await page.locator('button[data-tab="editor"]').click();
    await expect(maxInput(page).inputValue()).resolves.toBe("10");
    await maxInput(page).fill("5");
    await expect.poll(() => page.locator("#raw").inputValue()).toContain('"max": 5');
    await page.locator('#validity[data-ok="true"]').waitFor();
    await expect(page.locator("#publishBtn").isEnabled()).resolves.toBe(true);

    // Try a call: allowed by the draft and by the live policy.
    await page.locator("#tryTool").selectOption("binance_us_create_listen_key");
    await page.locator("#tryBtn").click();
    await page.locator('[data-side="draft"] [data-effect="allow"]').waitFor();
    await page.locator('[data-side="live"] [data-effect="allow"]').waitFor();

    // The grant's policy tests pass on the draft.
    await page.locator("#testBtn").click();
    await page.locator('#testSummary[data-ok="true"]').waitFor();
    await expect(page.locator("#testResult .fail").count()).resolves.toBe(0);

    await page.locator("#diffBtn").click();
    await page.locator("#diff .add").first().waitFor();
    await expect(page.locator("#diff .add").first().textContent()).resolves.toContain('"max": 5');
    await page.locator("#form").scrollIntoViewIfNeeded();
    const editorShot = shotPath("studio-editor.png");
    await page.screenshot({ path: editorShot, fullPage: true });
    expect(statSync(editorShot).size).toBeGreaterThan(10_000);

    await page.locator("#publishBtn").click();
    await page.locator('[data-published="true"]').waitFor();
    const onDisk = JSON.parse(readFileSync(join(t.dir, "policy.json"), "utf8"));
    expect(onDisk.tools.binance_us_create_listen_key.limits[0].max).toBe(5);

    // An MCP client through the gateway: the grant made 3 calls at the start of this
    // minute, so its 4th and 5th pass and its 6th within the minute is denied.
    const client = await t.connect();
    for (let i = 4; i <= 5; i++) {
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      expect(r.isError, `call ${i}: ${textOf(r)}`).toBeFalsy();
    }
    const sixth = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(sixth.isError).toBe(true);
    expect(textOf(sixth)).toContain("reached: 5 per minute per grant");
  }, 60_000);

  it("keeps the raw YAML and the form in step, both ways", async () => {
    await page.locator('button[data-format="yaml"]').click();
    await expect.poll(() => page.locator("#raw").inputValue()).toContain("max: 5");
    const yaml = await page.locator("#raw").inputValue();
    await page.locator("#raw").fill(yaml.replace("max: 5", "max: 4"));
    await expect.poll(() => maxInput(page).inputValue()).toBe("4");
    await maxInput(page).fill("3");
    await expect.poll(() => page.locator("#raw").inputValue()).toContain("max: 3");
    await page.locator('button[data-format="json"]').click();
    await expect.poll(() => page.locator("#raw").inputValue()).toContain('"max": 3');
  }, 20_000);

  it("shows a bad edit at its path and cannot publish it", async () => {
    await maxInput(page).fill("0");
    await page.locator('#validity[data-ok="false"]').waitFor();
    const issue = page.locator(`#issues li[data-issue-path="${MAX_PATH}"]`);
    await issue.waitFor();
    await expect(issue.textContent()).resolves.toContain("whole number");
    await expect(maxInput(page).getAttribute("class")).resolves.toContain("invalid");
    await page.locator(`#form [data-error-for="${MAX_PATH}"]`).waitFor();
    await expect(page.locator("#publishBtn").isDisabled()).resolves.toBe(true);
    await page.locator(`#form [data-error-for="${MAX_PATH}"]`).scrollIntoViewIfNeeded();
    await page.screenshot({
      path: join(mkdtempSync(join(tmpdir(), "toolgate-shot-")), "studio-invalid.png"),
    });

    // The server refuses it too, whatever the page lets through: the page's own draft,
    // sent from the page's origin with the admin token.
    const headers = {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
      "Content-Type": "application/json",
      Origin: t.gw.url,
    };
    const live = (await (
      await fetch(`${t.gw.url}/admin/api/studio/policy?grant=demo`, { headers })
    ).json()) as { hash: string };
    const { status } = await fetch(`${t.gw.url}/admin/api/studio/publish`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        grant: "demo",
        text: await page.locator("#raw").inputValue(),
        format: "json",
        baseHash: live.hash,
      }),
    });
    expect(status).toBe(422);
    const onDisk = JSON.parse(readFileSync(join(t.dir, "policy.json"), "utf8"));
    expect(onDisk.tools.binance_us_create_listen_key.limits[0].max).toBe(5);

    // The raw side reports a syntax error without losing the form.
    await page.locator("#raw").fill("{ nope");
    await page.locator("#issues li", { hasText: "not valid JSON" }).waitFor();
    await expect(page.locator("#validity").getAttribute("data-ok")).resolves.toBe("false");
    expect(problems).toEqual([]);
    // The CSP's Trusted Types rule: no script on this page can turn a string into HTML.
    const htmlRefused = await page.evaluate(
      "(() => { try { document.body.insertAdjacentHTML('beforeend', '<img src=x>'); return false; } catch { return true; } })()",
    );
    expect(htmlRefused).toBe(true);
  }, 30_000);
});
