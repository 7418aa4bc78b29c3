import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { createApprover, type HeldCall } from "../src/approvals/approver.js";
import { createRedisApprovalStore } from "../src/approvals/redis-store.js";
import { createMemoryApprovalStore } from "../src/approvals/store.js";
import { loadGatewayConfig } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { createGatewayMetrics, webhookMetricsSink } from "../src/metrics.js";
import {
  createApprovalWebhooks,
  type GenericWebhookBody,
  reportApprovalEvents,
  verifyWebhookSignature,
  type WebhookConfig,
  WebhooksSchema,
} from "../src/webhooks/index.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, textOf } from "./helpers/gateway.js";
import { ManualScheduler, startReceiver } from "./helpers/webhook-receiver.js";

const REDIS_URL = inject("redisUrl");

const SECRET = "whsec-0123456789abcdef0123456789abcdef";
const API_SECRET = "hunter2-very-secret";
const BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig";

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function receiver(answers: Array<number | "hang"> = []): Promise<Receiver> {
  const r = await startReceiver(answers);
  open.push(r);
  return r;
}

function hooks(list: unknown): WebhookConfig[] {
  return WebhooksSchema.parse(list);
}

function setup(webhooks: WebhookConfig[], extra: { maxQueue?: number } = {}) {
  const clock = new ManualScheduler();
  const metrics = createGatewayMetrics({ processMetrics: false });
  const wh = createApprovalWebhooks({
    webhooks,
    now: clock.now,
    scheduler: clock,
    random: () => 0, // the shortest jittered wait: half the exponential step
    metrics: webhookMetricsSink(metrics),
    ...extra,
  });
  open.push(wh);
  const store = wh.watch(createMemoryApprovalStore());
  const approve = createApprover({ store, timeoutMs: 60_000, now: clock.now, scheduler: clock });
  return { clock, metrics, wh, store, approve };
}

function held(id: string, args: Record<string, unknown> = {}): HeldCall {
  return {
    id,
    grant: "desk-a",
    tool: "transfer_funds",
    upstream: "bank",
    arguments: { amount: 12_000, to: "acct-42", apiSecret: API_SECRET, auth: BEARER, ...args },
    argumentsDigest: `sha256:${"d".repeat(64)}`,
    decision: {
      reason: "two people approve transfers above 10,000",
      ruleId: "tools.transfer_funds",
    },
    signal: new AbortController().signal,
  };
}

const until = (fn: () => boolean) => vi.waitFor(() => expect(fn()).toBe(true), { timeout: 5000 });

async function scrape(m: ReturnType<typeof createGatewayMetrics>) {
  return m.registry.metrics();
}

describe("approval webhooks (generic, signed)", () => {
  it("sends requested and decided, signed over the raw body, secrets masked as on the page", async () => {
    const r = await receiver();
    const { clock, store, approve, metrics } = setup(
      hooks([{ name: "ops", url: r.url, secret: SECRET }]),
    );
    const outcome = approve(held("apr_1"));
    await until(() => r.received.length === 1);
    await store.resolve("apr_1", { status: "approved", by: "alice", at: clock.now() });
    expect(await outcome).toMatchObject({ outcome: "approved", by: "alice" });
    await until(() => r.received.length === 2);

    for (const got of r.received) {
      const header = got.headers["toolgate-signature"] as string;
      expect(
        verifyWebhookSignature({ secret: SECRET, header, body: got.body, now: clock.now() }),
      ).toEqual({
        ok: true,
        timestampMs: Math.floor(clock.now() / 1000) * 1000,
      });
      // Wrong key, edited body, and the same request replayed 10 minutes later: refused.
      expect(
        verifyWebhookSignature({ secret: `${SECRET}x`, header, body: got.body, now: clock.now() })
          .ok,
      ).toBe(false);
      expect(
        verifyWebhookSignature({
          secret: SECRET,
          header,
          body: got.body.replace("12000", "99000"),
          now: clock.now(),
        }),
      ).toMatchObject({ ok: false, reason: "signature mismatch" });
      expect(
        verifyWebhookSignature({
          secret: SECRET,
          header,
          body: got.body,
          now: clock.now() + 600_000,
        }),
      ).toMatchObject({
        ok: false,
        reason: expect.stringContaining("tolerance"),
      });
      expect(verifyWebhookSignature({ secret: SECRET, header: undefined, body: got.body }).ok).toBe(
        false,
      );
      // No secret anywhere in what left the gateway.
      expect(got.body).not.toContain(API_SECRET);
      expect(got.body).not.toContain("eyJhbGciOiJIUzI1NiJ9");
      expect(got.body).not.toContain(SECRET);
      expect(JSON.stringify(got.headers)).not.toContain(SECRET);
      expect(got.headers["content-type"]).toBe("application/json");
    }
    const [requested, decided] = r.received.map((x) => JSON.parse(x.body) as GenericWebhookBody);
    expect(r.received[0]?.headers["toolgate-event"]).toBe("approval.requested");
    expect(r.received[0]?.headers["toolgate-delivery"]).toBe(requested?.id);
    expect(requested).toMatchObject({
      type: "approval.requested",
      approval: {
        id: "apr_1",
        status: "pending",
        grant: "desk-a",
        tool: "transfer_funds",
        reason: "two people approve transfers above 10,000",
        arguments: {
          amount: 12_000,
          to: "acct-42",
          apiSecret: "••••••(masked: credential name)",
          auth: "••••••(masked: looks like a bearer token)",
        },
        masked: ["args.apiSecret", "args.auth"],
        argumentsDigest: `sha256:${"d".repeat(64)}`,
      },
    });
    expect(requested?.approval).not.toHaveProperty("session");
    expect(decided).toMatchObject({
      type: "approval.decided",
      approval: { id: "apr_1", status: "approved", resolvedBy: "alice" },
    });
    expect(decided?.id).not.toBe(requested?.id);
    expect(await scrape(metrics)).toContain(
      'toolgate_webhook_deliveries_total{webhook="ops",event="approval.decided",outcome="delivered"} 1',
    );
  });

  it("retries after 500s with exponential backoff and jitter on fake time, then delivers once", async () => {
    const r = await receiver([500, 503, 500]);
    const { clock, approve, metrics } = setup(hooks([{ name: "ops", url: r.url, secret: SECRET }]));
    void approve(held("apr_2"));
    await until(() => r.received.length === 1);
    // random() = 0: waits are half of 1 s, 2 s, 4 s.
    await until(() => clock.pending().includes(500));
    clock.advance(499);
    await new Promise((res) => setImmediate(res));
    expect(r.received).toHaveLength(1);
    clock.advance(1);
    await until(() => r.received.length === 2);
    await until(() => clock.pending().includes(1000));
    clock.advance(1000);
    await until(() => r.received.length === 3);
    await until(() => clock.pending().includes(2000));
    clock.advance(2000);
    await until(() => r.received.length === 4);
    // The same event each time (one id), each attempt signed afresh and verifiable.
    const ids = new Set(r.received.map((x) => x.headers["toolgate-delivery"]));
    expect(ids.size).toBe(1);
    for (const x of r.received) {
      expect(
        verifyWebhookSignature({
          secret: SECRET,
          header: x.headers["toolgate-signature"] as string,
          body: x.body,
          now: clock.now(),
        }).ok,
      ).toBe(true);
    }
    await until(() => clock.pending().length === 1); // only the approval's own timeout is left
    const text = await scrape(metrics);
    expect(text).toContain(
      'toolgate_webhook_deliveries_total{webhook="ops",event="approval.requested",outcome="delivered"} 1',
    );
    expect(text).toContain(
      'toolgate_webhook_attempt_duration_seconds_count{webhook="ops",result="retry"} 3',
    );
    expect(text).toContain(
      'toolgate_webhook_attempt_duration_seconds_count{webhook="ops",result="ok"} 1',
    );
  });

  it("gives up after maxAttempts, never retries a 4xx, and expiry is its own event", async () => {
    const down = await receiver([500, 500, 500]);
    const refusing = await receiver([400]);
    const { clock, approve, metrics } = setup(
      hooks([
        { name: "down", url: down.url, secret: SECRET, maxAttempts: 2 },
        { name: "refusing", url: refusing.url, secret: SECRET, events: ["approval.requested"] },
      ]),
    );
    const outcome = approve(held("apr_3"));
    await until(() => down.received.length === 1 && refusing.received.length === 1);
    await until(() => clock.pending().includes(500));
    clock.advance(500);
    await until(() => down.received.length === 2);
    await vi.waitFor(async () =>
      expect(await scrape(metrics)).toContain(
        'toolgate_webhook_deliveries_total{webhook="down",event="approval.requested",outcome="failed"} 1',
      ),
    );
    expect(await scrape(metrics)).toContain(
      'toolgate_webhook_deliveries_total{webhook="refusing",event="approval.requested",outcome="failed"} 1',
    );
    expect(refusing.received).toHaveLength(1);
    // The approval times out on the same fake clock: approval.expired, not "decided".
    down.answers.push(200);
    clock.advance(60_000);
    expect(await outcome).toMatchObject({ outcome: "timeout" });
    await until(() => down.received.length === 3);
    const expired = JSON.parse(down.received[2]?.body ?? "{}") as GenericWebhookBody;
    expect(expired).toMatchObject({
      type: "approval.expired",
      approval: { status: "timeout", resolvedBy: "timeout" },
    });
    expect(refusing.received).toHaveLength(1); // not subscribed to approval.expired
  });

  it("bounds the queue: a hanging receiver fills it, further events are dropped and counted", async () => {
    const r = await receiver(["hang", "hang", "hang", "hang"]);
    const { approve, metrics, wh } = setup(hooks([{ name: "slow", url: r.url, secret: SECRET }]), {
      maxQueue: 2,
    });
    for (const id of ["a", "b", "c", "d"]) void approve(held(id));
    await until(() => r.received.length === 2);
    await vi.waitFor(async () =>
      expect(await scrape(metrics)).toContain(
        'toolgate_webhook_deliveries_total{webhook="slow",event="approval.requested",outcome="dropped"} 2',
      ),
    );
    expect(wh.dispatcher.size()).toBe(2);
  });
});

describe("approval webhooks (Slack)", () => {
  it("posts a Slack incoming-webhook body, escaping agent text, with no secret", async () => {
    const r = await receiver();
    const { clock, store, approve } = setup(hooks([{ name: "slack", kind: "slack", url: r.url }]));
    void approve(held("apr_s", { memo: "<!channel> pay <https://evil.example|here> & now" }));
    await until(() => r.received.length === 1);
    await store.resolve("apr_s", {
      status: "rejected",
      by: "bob",
      reason: "not <!here>",
      at: clock.now(),
    });
    await until(() => r.received.length === 2);
    const [first, second] = r.received.map(
      (x) => JSON.parse(x.body) as { text: string; blocks: unknown[] },
    );
    expect(first?.text).toBe("A tool call is waiting for approval: transfer_funds (grant desk-a)");
    expect(Array.isArray(first?.blocks)).toBe(true);
    const raw = r.received[0]?.body ?? "";
    expect(raw).toContain("&lt;!channel&gt; pay &lt;https://evil.example|here&gt; &amp; now");
    expect(raw).not.toContain("<!channel>");
    expect(raw).not.toContain(API_SECRET);
    expect(raw).toContain("••••••(masked: credential name)");
    expect(JSON.stringify(second)).toContain("not &lt;!here&gt;");
    expect(JSON.stringify(second)).toContain("*Decided by*\\nbob");
    // No secret configured: no signature header (a Slack URL is its own credential).
    expect(r.received[0]?.headers["toolgate-signature"]).toBeUndefined();
  });
});

describe("webhook config", () => {
  it("names the path and the fix of every problem, never echoing the URL", () => {
    const env = { TOOLGATE_API_KEY: "k".repeat(20) };
    const bad = {
      webhooks: [
        { url: "http://hooks.example.com/T000/B000/XXXXSECRETPATH", kind: "teams" },
        { url: "https://example.com/h" },
        { url: "https://example.com/h", secret: "short", events: ["approval.sent"] },
      ],
    };
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-wh-"));
    writeFileSync(join(cwd, "toolgate.config.yaml"), JSON.stringify(bad));
    let err: GatewayError | undefined;
    try {
      loadGatewayConfig({ cwd, env });
    } catch (e) {
      err = e as GatewayError;
    }
    expect(err).toBeInstanceOf(GatewayError);
    const issues = err?.issues ?? [];
    const at = (path: string) => issues.find((i) => i.path === path)?.message ?? "";
    expect(at("webhooks[0].url")).toContain("use an https URL");
    expect(at("webhooks[0].kind")).toContain('use "generic"');
    expect(at("webhooks[1].secret")).toContain("needs a secret");
    expect(at("webhooks[2].secret")).toContain("at least 32 characters");
    expect(at("webhooks[2].events[0]")).toContain("approval.requested");
    expect(JSON.stringify(issues)).not.toContain("XXXXSECRETPATH");
    for (const i of issues.filter((x) => x.path.startsWith("webhooks")))
      expect(i.fix).toContain("write each webhook as { name: ops, url: https://...");
    // Names must be unique: they label the metrics and the log lines.
    const twice = {
      webhooks: [
        { name: "x", url: "https://a.example/h", kind: "slack" },
        { name: "x", url: "https://b.example/h", kind: "slack" },
      ],
    };
    writeFileSync(join(cwd, "toolgate.config.yaml"), JSON.stringify(twice));
    const dup = (() => {
      try {
        loadGatewayConfig({ cwd, env });
      } catch (e) {
        return e as GatewayError;
      }
    })();
    expect(dup?.issues.find((i) => i.path === "webhooks[1].name")?.message).toContain("used twice");
  });
});

describe("approval webhooks through the gateway", () => {
  it("a hanging receiver never delays the call; the other webhook still gets every event", async () => {
    const hanging = await receiver(["hang", "hang", "hang"]);
    const slack = await receiver();
    const calls: string[] = [];
    const t = await startTestGateway({
      config: `
upstreams: []
grants:
  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }
approvals: { timeoutMs: 60000 }
webhooks:
  - { name: stuck, url: "${hanging.url}", secret: "${SECRET}" }
  - { name: chat, kind: slack, url: "${slack.url}" }
`,
      files: {
        "policy.yaml": `version: "1"
default: deny
tools:
  get_time: { action: allow }
  transfer_funds: { action: require_approval, reason: "moving money needs a person" }
`,
      },
      extraUpstreams: [{ name: "fake", server: fakeUpstream(calls) }],
    });
    open.push(t);
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`${t.gw.url}/admin/api${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      });
    const client = await t.connect();
    const held = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 5, apiSecret: API_SECRET },
    });
    const pending = await vi.waitFor(
      async () => {
        const p = ((await (await admin("/approvals")).json()) as { pending: Array<{ id: string }> })
          .pending[0];
        expect(p).toBeDefined();
        return p as { id: string };
      },
      { timeout: 5000 },
    );
    await until(() => hanging.received.length === 1 && slack.received.length === 1);
    const approvedAt = performance.now();
    expect(
      (await admin(`/approvals/${pending.id}/approve`, { method: "POST", body: "{}" })).status,
    ).toBe(200);
    const result = await held;
    const afterApprove = performance.now() - approvedAt;
    expect(textOf(result)).toBe("moved 5");
    // The receiver holds two requests open (requested, decided); the call did not wait
    // on either: it was answered about as fast as an allowed call.
    const t0 = performance.now();
    await client.callTool({ name: "get_time", arguments: {} });
    const plain = performance.now() - t0;
    expect(afterApprove).toBeLessThan(Math.max(500, plain * 20));
    await until(() => hanging.received.length === 2 && slack.received.length === 2);
    for (const x of [...hanging.received, ...slack.received])
      expect(x.body).not.toContain(API_SECRET);
    expect(JSON.parse(slack.received[1]?.body ?? "{}").text).toBe(
      "A held tool call was decided: transfer_funds (grant demo)",
    );
    const metrics = await (await fetch(`${t.gw.url}/metrics`)).text();
    expect(metrics).toContain(
      'toolgate_webhook_deliveries_total{webhook="chat",event="approval.decided",outcome="delivered"} 1',
    );
    expect(metrics).toMatch(/^toolgate_webhook_queue 2$/m); // the two hanging deliveries
    expect(metrics).not.toContain(hanging.url);
  });

  it("on a shared Redis store exactly one instance announces a resolution", async () => {
    const prefix = `tg-wh-${Date.now()}:`;
    const a = createRedisApprovalStore({ url: REDIS_URL, keyPrefix: prefix });
    const b = createRedisApprovalStore({ url: REDIS_URL, keyPrefix: prefix });
    open.push(a, b);
    const seen: string[] = [];
    const onA = reportApprovalEvents(a, (e) => seen.push(`a:${e.type}`));
    const onB = reportApprovalEvents(b, (e) => seen.push(`b:${e.type}`));
    const now = Date.now();
    await onA.create({
      id: "apr_r",
      grant: "g",
      tool: "t",
      upstream: "u",
      arguments: {},
      argumentsDigest: "x",
      reason: "r",
      ruleId: "tools.t",
      createdAt: now,
      expiresAt: now + 60_000,
      status: "pending",
    });
    // Approve on B racing a timeout on A: the store lets one win; only it is announced.
    await Promise.all([
      onB.resolve("apr_r", { status: "approved", by: "alice", at: now }),
      onA.resolve("apr_r", { status: "timeout", by: "timeout", at: now }),
    ]);
    expect(seen[0]).toBe("a:approval.requested");
    expect(seen.slice(1)).toHaveLength(1);
    expect(["b:approval.decided", "a:approval.expired"]).toContain(seen[1]);
    // The wrapper passes everything else through to the store.
    expect(onB.name).toBe("redis");
    expect((await onB.get("apr_r"))?.status).not.toBe("pending");
  });
});
