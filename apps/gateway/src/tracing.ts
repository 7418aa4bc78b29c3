import { createRequire } from "node:module";
import type { Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { TRACER_NAME } from "@toolgate/mcp-express";
import { GatewayError } from "./errors.js";

/** The gateway package's version (its package.json sits above both src/ and dist/). */
const GATEWAY_VERSION: string = (
  createRequire(import.meta.url)("../package.json") as { version: string }
).version;

/** The gateway's tracing, when the environment turns it on. */
export interface GatewayTracing {
  readonly tracer: Tracer;
  /** Where spans go and how, for the start-up log. */
  readonly describe: string;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

function sampler(env: Env): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on").trim().toLowerCase();
  const arg = env.OTEL_TRACES_SAMPLER_ARG;
  const ratio = (): number => {
    const r = arg === undefined || arg === "" ? 1 : Number(arg);
    if (!Number.isFinite(r) || r < 0 || r > 1)
      throw new GatewayError("CONFIG_INVALID", "invalid OTEL_TRACES_SAMPLER_ARG", [
        {
          path: "env.OTEL_TRACES_SAMPLER_ARG",
          message: `"${arg}" is not a ratio`,
          fix: "use a number from 0 to 1, e.g. 0.1",
        },
      ]);
    return r;
  };
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio());
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new GatewayError("CONFIG_INVALID", "invalid OTEL_TRACES_SAMPLER", [
        {
          path: "env.OTEL_TRACES_SAMPLER",
          message: `"${name}" is not a sampler`,
          fix: "use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
        },
      ]);
  }
}

/** `k=v,k2=v2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES are written. */
function pairs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(
        part.slice(eq + 1).trim(),
      );
    } catch {
      // A malformed escape: skip the pair rather than fail start-up over a header.
    }
  }
  return out;
}

/**
 * Starts tracing from the standard OpenTelemetry environment, or returns undefined when
 * it is not configured (then the gateway makes no spans and tracing costs nothing):
 *
 * - on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set
 *   (the latter gets `/v1/traces` appended), unless `OTEL_SDK_DISABLED=true` or
 *   `OTEL_TRACES_EXPORTER=none`;
 * - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`
 *   (default) or `http/json`; `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` for credentials;
 * - `OTEL_SERVICE_NAME` (default `toolgate`), `OTEL_RESOURCE_ATTRIBUTES`;
 * - `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`).
 *
 * The provider is not registered globally: the gateway hands its tracer to the MCP
 * endpoint, so embedding applications keep their own global setup.
 *
 * @throws GatewayError `CONFIG_INVALID` naming the variable and the fix.
 */
export function startTracing(env: Env): GatewayTracing | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === "none") return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() ||
    (base ? `${base.replace(/\/$/, "")}/v1/traces` : undefined);
  if (!url) return undefined;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw new GatewayError("CONFIG_INVALID", "invalid OTLP endpoint", [
      {
        path: "env.OTEL_EXPORTER_OTLP_ENDPOINT",
        message: `"${url}" is not an http(s) URL`,
        fix: "use e.g. http://127.0.0.1:4318 (the collector's OTLP/HTTP port)",
      },
    ]);
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    "http/protobuf"
  ).trim();
  if (protocol !== "http/protobuf" && protocol !== "http/json")
    throw new GatewayError("CONFIG_INVALID", "unsupported OTLP protocol", [
      {
        path: "env.OTEL_EXPORTER_OTLP_PROTOCOL",
        message: `"${protocol}" is not supported`,
        fix: "use http/protobuf or http/json (point it at the collector's OTLP/HTTP port, 4318)",
      },
    ]);
  const headers = {
    ...pairs(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...pairs(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
  };
  const exporterConfig = { url, headers };
  const exporter =
    protocol === "http/json"
      ? new OtlpJsonExporter(exporterConfig)
      : new OtlpProtoExporter(exporterConfig);
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || "toolgate";
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      ...pairs(env.OTEL_RESOURCE_ATTRIBUTES),
      "service.name": serviceName,
    }),
    sampler: sampler(env),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 })],
  });
  return {
    tracer: provider.getTracer(TRACER_NAME, GATEWAY_VERSION),
    describe: `${protocol} to ${url} as ${serviceName}`,
    shutdown: () => provider.shutdown(),
  };
}
