import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const policy = JSON.parse(
  readFileSync(new URL("../policies/default.json", import.meta.url), "utf8"),
);
const POLICY_TEXT = `${JSON.stringify(policy, null, 2)}\n`;
const TESTS = `grant: demo
cases:
  - name: five creates pass
    tool: binance_us_create_listen_key
    repeat: 5
    expect: { effect: allow }
  - name: the sixth is rate limited
    tool: binance_us_create_listen_key
    expect: { effect: deny, code: RATE_LIMITED }
  - name: unnamed tools are denied
    tool: transfer_funds
    expect: { effect: deny }
`;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
type Body = any;
const json = (res: Response): Promise<Body> => res.json();

const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

/** The create limit set to `max`, as the editor would send it. */
function withCreateMax(max: number): string {
  const doc = structuredClone(policy);
  doc.tools.binance_us_create_listen_key.limits[0].max = max;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

describe("policy studio API", () => {
  let t: TestGateway;
  let base: string;
  let client: Client;
  const api = (path: string, init: RequestInit = {}, token: string | null = ADMIN_TOKEN) =>
    fetch(`${base}/admin/api/studio${path}`, {
      ...init,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    api(path, { method: "POST", body: JSON.stringify(body), headers });

  beforeAll(async () => {
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json } }\n`,
      files: { "policy.json": POLICY_TEXT, "policy.test.yaml": TESTS },
      extraUpstreams: [{ name: "binance-us", server: fakeUpstream() }],
    });
    base = t.gw.url;
    client = await t.connect();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("needs the admin token on every route", async () => {
    for (const [path, init] of [
      ["/grants", {}],
      ["/tools?grant=demo", {}],
      ["/policy?grant=demo", {}],
      ["/publish", { method: "POST", body: "{}" }],
    ] as const) {
      expect((await api(path, init, null)).status, path).toBe(401);
      expect((await api(path, init, "wrong-token-0123456789")).status, path).toBe(401);
    }
  });

  it("refuses cross-site and non-JSON writes even with the token", async () => {
    const live = await json(await api("/policy?grant=demo"));
    const body = { grant: "demo", text: withCreateMax(1), format: "json", baseHash: live.hash };
    const evil = await post("/publish", body, { Origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect((await json(evil)).error).toBe("cross_origin");
    expect((await post("/publish", body, { "Sec-Fetch-Site": "cross-site" })).status).toBe(403);
    expect((await post("/publish", body, { Origin: "null" })).status).toBe(403);
    const form = await api("/publish", {
      method: "POST",
      body: new URLSearchParams({ grant: "demo" }).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(415);
    expect(readFileSync(join(t.dir, "policy.json"), "utf8")).toBe(POLICY_TEXT);
    // Its own origin passes the check (and this draft is fine to validate).
    const own = await post(
      "/validate",
      { text: POLICY_TEXT, format: "json" },
      { Origin: base, "Sec-Fetch-Site": "same-origin" },
    );
    expect(own.status).toBe(200);
  });

  it("shows every tool with its risk, what the policy does and live counter use", async () => {
    await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    const res = await api("/tools?grant=demo");
    expect(res.status).toBe(200);
    const view = await json(res);
    const byName = new Map((view.tools as Body[]).map((x) => [x.name as string, x]));
    expect([...byName.keys()].sort()).toEqual([
      "binance_us_close_listen_key",
      "binance_us_create_listen_key",
      "binance_us_keepalive_listen_key",
      "get_time",
      "transfer_funds",
    ]);
    const create = byName.get("binance_us_create_listen_key")!;
    expect(create.upstream).toBe("binance-us");
    expect(create.category).toBe("execute");
    expect(create.policy).toMatchObject({
      action: "limit",
      ruleId: "tools.binance_us_create_listen_key",
      limits: [{ counter: "binance_us_create_listen_key_rate", max: 10, scope: "grant", used: 2 }],
    });
    const transfer = byName.get("transfer_funds")!;
    expect(transfer).toMatchObject({ category: "money", risk: "high" });
    expect(transfer.recommendation.verdict).toBe("approve");
    expect(transfer.policy).toMatchObject({ action: "deny", ruleId: "default" });
    expect(transfer.reasons[0].text).toContain('name says "transfer"');
    // Nothing secret in it: no keys, no tokens, no file system paths.
    const raw = JSON.stringify(view);
    expect(raw).not.toContain(ADMIN_TOKEN);
    expect(raw).not.toContain(t.dir);
  });

  it("validates as you type with the language's path-and-fix messages", async () => {
    const bad = await json(await post("/validate", { text: withCreateMax(0), format: "json" }));
    expect(bad.ok).toBe(false);
    expect(bad.issues).toContainEqual(
      expect.objectContaining({
        path: "tools.binance_us_create_listen_key.limits[0].max",
        fix: expect.stringContaining("whole number"),
      }),
    );
    // The parsed value still comes back, so the form can show what was typed.
    expect(bad.value.tools.binance_us_create_listen_key.limits[0].max).toBe(0);
    const yaml = await json(
      await post("/validate", { text: 'version: "1"\ndefault: maybe\n', format: "yaml" }),
    );
    expect(yaml.issues[0]).toMatchObject({ path: "default" });
    const broken = await json(await post("/validate", { text: "{", format: "json" }));
    expect(broken.ok).toBe(false);
    expect(broken.value).toBeUndefined();
    expect(broken.issues[0].message).toContain("not valid JSON");
    const good = await json(await post("/validate", { text: withCreateMax(5), format: "json" }));
    expect(good).toMatchObject({ ok: true, issues: [] });
    expect(good.yaml).toContain("max: 5");
    const shape = await post("/validate", { text: 1, format: "toml" });
    expect(shape.status).toBe(400);
    expect((await json(shape)).issues.map((i: { path: string }) => i.path)).toEqual([
      "text",
      "format",
    ]);
  });

  it("tries a call against the draft and the live policy without calling the tool", async () => {
    const r = await json(
      await post("/try", {
        grant: "demo",
        text: withCreateMax(2),
        format: "json",
        tool: "binance_us_create_listen_key",
        arguments: {},
      }),
    );
    // Two calls were made above: the draft's limit of 2 is used up, the live 10 is not.
    expect(r.sentUpstream).toBe(false);
    expect(r.live.decision).toMatchObject({ effect: "allow", limits: [{ used: 2, max: 10 }] });
    expect(r.draft.decision).toMatchObject({ effect: "deny", code: "RATE_LIMITED" });
    expect(r.draft.trace.map((s: { step: string }) => s.step)).toContain("limit");
    const invalid = await json(
      await post("/try", {
        grant: "demo",
        text: withCreateMax(0),
        format: "json",
        tool: "get_time",
      }),
    );
    expect(invalid.draft).toBeUndefined();
    expect(invalid.issues[0].path).toBe("tools.binance_us_create_listen_key.limits[0].max");
  });

  it("runs the grant's policy tests against the draft", async () => {
    const r = await json(
      await post("/test", { grant: "demo", text: withCreateMax(5), format: "json" }),
    );
    expect(r.file).toBe("policy.test.yaml");
    expect(r.draft).toMatchObject({ ok: true, passed: 3, total: 3 });
    expect(r.live).toMatchObject({ ok: false, failed: 1 });
  });

  it("refuses to publish a bad draft, with its path, and leaves the file alone", async () => {
    const live = await json(await api("/policy?grant=demo"));
    const res = await post("/publish", {
      grant: "demo",
      text: withCreateMax(0),
      format: "json",
      baseHash: live.hash,
    });
    expect(res.status).toBe(422);
    const refused = await json(res);
    expect(refused.error).toBe("policy_invalid");
    expect(refused.issues[0].path).toBe("tools.binance_us_create_listen_key.limits[0].max");
    expect(readFileSync(join(t.dir, "policy.json"), "utf8")).toBe(POLICY_TEXT);
    const noGrant = await post("/publish", {
      grant: "nobody",
      text: POLICY_TEXT,
      format: "json",
      baseHash: live.hash,
    });
    expect(noGrant.status).toBe(404);
  });

  it("publishes atomically, audits who and the hashes, and the running gateway enforces it", async () => {
    const live = await json(await api("/policy?grant=demo"));
    expect(live.hash).toBe(sha(POLICY_TEXT));
    const diff = await json(
      await post("/diff", { grant: "demo", text: withCreateMax(5), format: "json" }),
    );
    expect(diff.same).toBe(false);
    expect(diff.lines.filter((l: { op: string }) => l.op !== "=")).toEqual([
      { op: "-", text: '          "max": 10,' },
      { op: "+", text: '          "max": 5,' },
    ]);

    const text = withCreateMax(5);
    // Two publishes from the same base: exactly one wins, the other is told to reload.
    const [a, b] = await Promise.all([
      post("/publish", { grant: "demo", text, format: "json", baseHash: live.hash }),
      post("/publish", {
        grant: "demo",
        text: withCreateMax(7),
        format: "json",
        baseHash: live.hash,
      }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? a : b;
    const published = await json(winner);
    const onDisk = readFileSync(join(t.dir, "policy.json"), "utf8");
    expect(published.hash).toBe(sha(onDisk));
    expect(published.previousHash).toBe(sha(POLICY_TEXT));
    expect(readdirSync(t.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    const max = JSON.parse(onDisk).tools.binance_us_create_listen_key.limits[0].max;
    expect(t.gw.policies.get(join(t.dir, "policy.json"))?.current.version).toBe(published.version);

    const audit = readFileSync(join(t.dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === "policy_published");
    expect(audit).toEqual([
      expect.objectContaining({
        by: "admin",
        grant: "demo",
        policy: "policy.json",
        oldHash: sha(POLICY_TEXT),
        newHash: sha(onDisk),
        shadow: false,
      }),
    ]);

    // A fresh session of the grant: 2 calls are already counted in this minute.
    const fresh = await t.connect();
    const results: boolean[] = [];
    for (let i = 0; i < max - 1; i++) {
      const r = await fresh.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      results.push(r.isError === true);
    }
    // 2 earlier + (max - 2) allowed = max; the next one is denied.
    expect(results.slice(0, max - 2).every((e) => !e)).toBe(true);
    expect(results.at(-1)).toBe(true);
    const denied = await fresh.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(textOf(denied)).toContain(`reached: ${max} per minute per grant`);
  });

  it("publishes changed rules in shadow mode when asked", async () => {
    const live = await json(await api("/policy?grant=demo"));
    const doc = structuredClone(live.document);
    doc.tools.get_time = { action: "deny", reason: "not yet" };
    const text = JSON.stringify(doc, null, 2);
    const res = await post("/publish", {
      grant: "demo",
      text,
      format: "json",
      baseHash: live.hash,
      shadow: true,
      note: "trying a deny",
    });
    expect(res.status).toBe(200);
    const onDisk = JSON.parse(readFileSync(join(t.dir, "policy.json"), "utf8"));
    expect(onDisk.tools.get_time).toEqual({ action: "deny", reason: "not yet", mode: "shadow" });
    // Unchanged rules stay enforced as they were.
    expect(onDisk.tools.binance_us_create_listen_key.mode).toBeUndefined();
    const r = await client.callTool({ name: "get_time", arguments: {} });
    expect(r.isError).toBeFalsy();
    const audit = readFileSync(join(t.dir, "audit.jsonl"), "utf8");
    expect(audit).toContain('"shadow":true');
    expect(audit).toContain('"note":"trying a deny"');
  });
});

describe("policy studio on the built-in default policy", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      config: "upstreams: []\n",
      extraUpstreams: [{ name: "binance-us", server: fakeUpstream() }],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("shows it but never overwrites the file that ships with the gateway", async () => {
    const headers = { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" };
    const live = await json(
      await fetch(`${t.gw.url}/admin/api/studio/policy?grant=demo`, { headers }),
    );
    expect(live).toMatchObject({ readOnly: true, policy: "default.json" });
    const res = await fetch(`${t.gw.url}/admin/api/studio/publish`, {
      method: "POST",
      headers,
      body: JSON.stringify({ grant: "demo", text: live.text, format: "json", baseHash: live.hash }),
    });
    expect(res.status).toBe(409);
    expect((await json(res)).issues[0].fix).toContain("set policy: <file>");
  });
});
