/**
 * Bench gateways for identity and tracing, in one process in front of the bench upstream
 * (same policy as gateway.ts: a limit that is never reached). Ports printed, in order:
 *
 * 1. API keys and OAuth side by side, no tracing (no SDK registered: the default);
 * 2. the same with an OpenTelemetry SDK tracer: every request sampled, spans batched to an
 *    exporter that drops them (the SDK's own cost; OTLP encoding and the network are not
 *    in the figure).
 *
 * argv: <upstream url> <issuer> <public JWK as JSON>
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { compilePolicy } from "@toolgate/policy-engine";
import { createToolgateMcp, type ToolgateMcpOptions } from "../src/index.js";

const [upstream, issuer, jwk] = process.argv.slice(2);
if (!upstream || !issuer || !jwk)
  throw new Error("usage: gateway-identity.ts <upstream> <issuer> <jwk>");
const keys = JSON.stringify({ keys: [JSON.parse(jwk)] });

const drop: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};
const provider = new TracerProvider({
  sampler: new AlwaysOnSampler(),
  spanProcessors: [new BatchSpanProcessor({ exporter: drop })],
});

const base = (): ToolgateMcpOptions => ({
  upstreams: [{ name: "bench", url: upstream }],
  apiKeys: { "bench-key": "bench" },
  oauth: {
    issuer,
    resource: "https://bench.example.com/mcp",
    jwksUri: `${issuer}/jwks`,
    // The key set comes from the driver; no network in the measurement.
    fetch: async () => ({
      ok: true,
      status: 200,
      headers: { get: () => null },
      text: async () => keys,
    }),
  },
  policy: compilePolicy({
    version: "1",
    default: "deny",
    tools: {
      echo: { limits: [{ counter: "echo", window: "minute", max: 1_000_000_000, scope: "grant" }] },
    },
  }),
});

const plain = createToolgateMcp(base());
const traced = createToolgateMcp({ ...base(), tracer: provider.getTracer("bench") });
await Promise.all([plain.start(), traced.start()]);
const a = createServer(plain.listener).listen(0, "127.0.0.1", () => {
  const b = createServer(traced.listener).listen(0, "127.0.0.1", () => {
    const pa = (a.address() as AddressInfo).port;
    const pb = (b.address() as AddressInfo).port;
    process.stdout.write(`PORT ${pa} ${pb}\n`);
  });
});

process.on("SIGTERM", () => process.exit(0));
