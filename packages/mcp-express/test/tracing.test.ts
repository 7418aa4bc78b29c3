/**
 * Spans of the decision paths other than a plain forward: an approval hold, a rate-limit
 * refusal (nothing forwarded), `_meta.traceparent` taking precedence over the header, and
 * a gateway without any tracer making no spans while passing a client's context on.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SpanKind } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { compilePolicy } from "@toolgate/policy-engine";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { initBody, post, type RunningGateway, startGateway } from "./harness.js";

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const metas: Array<Record<string, unknown> | undefined> = [];

function server(): McpServer {
  const s = new McpServer({ name: "embedded", version: "1.0.0" });
  s.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }, extra) => {
    metas.push(extra._meta as Record<string, unknown> | undefined);
    return { content: [{ type: "text", text }] };
  });
  s.registerTool("wire", {}, async () => ({ content: [{ type: "text", text: "sent" }] }));
  return s;
}

const policy = compilePolicy({
  version: "1",
  default: "allow",
  tools: {
    echo: { limits: [{ counter: "echo", window: "minute", max: 2, scope: "grant" }] },
    wire: { action: "require_approval", reason: "moves money" },
  },
});

let traced: RunningGateway;
let plain: RunningGateway;
beforeAll(async () => {
  traced = await startGateway({
    upstreams: [{ name: "embedded", server }],
    apiKeys: { "sk-trace-0123456789": "ops" },
    policy,
    tracer: provider.getTracer("test"),
    approve: async () => ({ outcome: "approved", by: "alice" }),
  });
  plain = await startGateway({
    upstreams: [{ name: "embedded", server }],
    apiKeys: { "sk-trace-0123456789": "ops" },
    policy,
  });
});
afterAll(async () => {
  await traced.stop();
  await plain.stop();
  await provider.shutdown();
});
beforeEach(() => {
  exporter.reset();
  metas.length = 0;
});

async function open(url: string): Promise<Record<string, string>> {
  const auth = { authorization: "Bearer sk-trace-0123456789" };
  const res = await post(url, initBody("trace"), auth);
  const sid = res.headers.get("mcp-session-id") ?? "";
  const h = { ...auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
  await post(url, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), h);
  return h;
}

let nextId = 10;
async function call(
  url: string,
  h: Record<string, string>,
  name: string,
  args: Record<string, unknown>,
  meta?: Record<string, unknown>,
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = { name, arguments: args };
  if (meta) params._meta = meta;
  const res = await post(
    url,
    JSON.stringify({ jsonrpc: "2.0", id: nextId++, method: "tools/call", params }),
    { ...h, ...extra },
  );
  const text = await res.text();
  const json = text.startsWith("{") ? text : (/data: (.*)/.exec(text)?.[1] ?? "{}");
  return JSON.parse(json) as Record<string, unknown>;
}

const named = (spans: ReadableSpan[], name: string, kind?: SpanKind) =>
  spans.find((s) => s.name === name && (kind === undefined || s.kind === kind));

describe("spans of the decision paths", () => {
  it("an approval hold is a child span with its outcome", async () => {
    const h = await open(traced.url);
    exporter.reset();
    await call(traced.url, h, "wire", {});
    const spans = exporter.getFinishedSpans();
    const root = named(spans, "tools/call wire", SpanKind.SERVER);
    const hold = named(spans, "toolgate.approval");
    expect(root?.attributes["toolgate.decision"]).toBe("require_approval");
    expect(root?.attributes["toolgate.reason_code"]).toBe("APPROVAL_REQUIRED");
    expect(hold?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
    expect(hold?.attributes["toolgate.approval.outcome"]).toBe("approved");
    expect(named(spans, "tools/call wire", SpanKind.CLIENT)).toBeDefined();
  });

  it("a rate-limited call: the decision says why and when, no upstream span, a tool error", async () => {
    const h = await open(traced.url);
    await call(traced.url, h, "echo", { text: "1" });
    await call(traced.url, h, "echo", { text: "2" });
    exporter.reset();
    const r = await call(traced.url, h, "echo", { text: "3" });
    expect((r.result as { isError?: boolean }).isError).toBe(true);
    const spans = exporter.getFinishedSpans();
    const root = named(spans, "tools/call echo", SpanKind.SERVER);
    expect(root?.attributes).toMatchObject({
      "toolgate.decision": "deny",
      "toolgate.reason_code": "RATE_LIMITED",
      "toolgate.rule": "tools.echo.limits[0]",
      "error.type": "tool_error",
    });
    expect(Number(root?.attributes["toolgate.retry_after_ms"])).toBeGreaterThan(0);
    expect(named(spans, "toolgate.store.reserve")?.attributes["toolgate.admitted"]).toBe(false);
    expect(named(spans, "tools/call echo", SpanKind.CLIENT)).toBeUndefined();
  });

  it("_meta.traceparent wins over the header; garbage is ignored", async () => {
    const h = await open(traced.url);
    exporter.reset();
    const metaTp = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01";
    const headerTp = "00-cccccccccccccccccccccccccccccccc-dddddddddddddddd-01";
    await call(traced.url, h, "wire", {}, { traceparent: metaTp }, { traceparent: headerTp });
    const root = named(exporter.getFinishedSpans(), "tools/call wire", SpanKind.SERVER);
    expect(root?.spanContext().traceId).toBe("a".repeat(32));
    exporter.reset();
    await call(traced.url, h, "wire", {}, { traceparent: "00-zz-\r\nx-01" });
    const fresh = named(exporter.getFinishedSpans(), "tools/call wire", SpanKind.SERVER);
    expect(fresh?.parentSpanContext).toBeUndefined();
    expect(fresh?.spanContext().traceId).not.toBe("a".repeat(32));
  });
});

describe("no tracer configured", () => {
  it("makes no spans, and passes a client's trace context to the upstream unchanged", async () => {
    const h = await open(plain.url);
    exporter.reset();
    const tp = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
    await call(plain.url, h, "echo", { text: "x" }, undefined, { traceparent: tp });
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(metas.at(-1)?.traceparent).toBe(tp);
    // Without a context from the client, params reach the upstream untouched.
    await call(plain.url, h, "echo", { text: "y" });
    expect(metas.at(-1)?.traceparent).toBeUndefined();
  });
});
