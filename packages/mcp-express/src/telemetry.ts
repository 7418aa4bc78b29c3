/**
 * OpenTelemetry instrumentation of the gateway, in one place so call sites stay one line
 * each and can move with the pipeline. Depends on `@opentelemetry/api` only: the
 * application registers an SDK (or not). Without an SDK and without an incoming
 * `traceparent` nothing is allocated per request.
 *
 * Span tree of one `tools/call` (names and attributes follow OTel's MCP and GenAI
 * semantic conventions where they exist, `toolgate.*` otherwise):
 *
 * ```
 * tools/call <tool>            SERVER  mcp.method.name, gen_ai.tool.name, mcp.session.id, ...
 *   toolgate.decide            INTERNAL toolgate.decision, toolgate.rule, toolgate.reason_code, ...
 *     toolgate.store.reserve   INTERNAL toolgate.store, toolgate.admitted
 *   toolgate.approval          INTERNAL toolgate.approval.outcome   (require_approval only)
 *   tools/call <upstream tool> CLIENT   toolgate.upstream           (forwarded calls only)
 * ```
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingHttpHeaders } from "node:http";
import {
  type Attributes,
  type Context,
  createTraceState,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { CounterStore, Decision, Identity } from "./engine.js";
import { headerValue } from "./http.js";
import type { RpcMessage } from "./jsonrpc.js";
import { TOOLGATE_VERSION } from "./version.js";

/** Instrumentation scope name of the spans this package makes. */
export const TRACER_NAME = "@toolgate/mcp-express";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C `traceparent` (version 00) as a remote span context, or undefined when invalid. */
export function parseTraceparent(value: unknown, state?: unknown): SpanContext | undefined {
  if (typeof value !== "string" || value.length !== 55) return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const sc: SpanContext = {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: Number.parseInt(m[3] as string, 16) & 1,
    isRemote: true,
  };
  if (!isSpanContextValid(sc)) return undefined;
  // tracestate is vendor data: passed on when it is short and printable, else dropped.
  if (typeof state === "string" && state.length <= 512 && /^[\x20-\x7e]*$/.test(state))
    sc.traceState = createTraceState(state);
  return sc;
}

/** The `traceparent` of a span context. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`;
}

/** Identity `NoopTracerProvider` class, to tell "no SDK registered" from a real provider. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate().constructor;

/** True when a tracer provider other than the API's no-op one is registered globally. */
export function globalTracingRegistered(): boolean {
  const p = trace.getTracerProvider();
  if (!(p instanceof ProxyTracerProvider)) return true;
  return p.getDelegate().constructor !== NOOP_PROVIDER;
}

/** A child span and the context to hang its own children on. */
export interface ChildSpan {
  readonly span: Span;
  readonly context: Context;
}

/**
 * The span of one MCP request and what the pipeline records on it. Created by
 * {@link Telemetry.request}; every method is cheap and safe to call when the span does
 * not record (then it only carries the caller's trace context on to upstreams).
 */
export class RequestTrace {
  constructor(
    private readonly tel: Telemetry,
    readonly span: Span,
    readonly context: Context,
  ) {}

  /** Starts a child span (decision, approval, upstream call). */
  child(name: string, kind: SpanKind, attributes?: Attributes): ChildSpan {
    const span = this.tel.tracer.startSpan(name, { kind, attributes }, this.context);
    return { span, context: trace.setSpan(this.context, span) };
  }

  /** Records the decision on the request span (the decision span gets the same). */
  decided(d: Decision): void {
    if (this.span.isRecording()) this.span.setAttributes(decisionAttributes(d));
  }

  /** Ends the request span with the JSON-RPC response sent to the client. */
  end(response: RpcMessage | undefined): void {
    endWith(this.span, response);
  }
}

/** `toolgate.*` attributes of a decision. */
export function decisionAttributes(d: Decision): Attributes {
  const a: Attributes = {
    "toolgate.decision": d.effect,
    "toolgate.rule": d.ruleId,
    "toolgate.reason_code": d.code,
    "toolgate.policy_version": d.policyVersion,
    "toolgate.shadow": d.shadow !== undefined,
    "toolgate.degraded": d.degraded !== undefined,
  };
  if (d.retryAfterMs !== undefined) a["toolgate.retry_after_ms"] = d.retryAfterMs;
  if (d.shadow !== undefined) a["toolgate.shadow_effect"] = d.shadow.effect;
  if (d.degraded !== undefined) a["toolgate.degraded_mode"] = d.degraded.mode;
  return a;
}

/** Ends a span with the outcome of a JSON-RPC exchange (error code, or a tool error). */
export function endWith(span: Span, response: RpcMessage | undefined): void {
  if (span.isRecording()) {
    const err = response?.error;
    if (err) {
      span.setAttributes({
        "error.type": String(err.code),
        "rpc.response.status_code": String(err.code),
      });
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    } else if ((response?.result as { isError?: unknown } | undefined)?.isError === true) {
      // Semantic conventions: a CallToolResult with isError is a tool error.
      span.setAttribute("error.type", "tool_error");
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  span.end();
}

/**
 * The gateway's tracing: request spans, child spans, store reservation spans, trace
 * context in and out. One per gateway.
 */
export class Telemetry {
  /** Parent of `toolgate.store.reserve` spans while a decision runs. */
  private readonly reserving = new AsyncLocalStorage<Context>();

  /**
   * @param tracer where spans go
   * @param live false when no SDK is registered: requests without an incoming
   *   `traceparent` then skip tracing entirely
   */
  constructor(
    readonly tracer: Tracer,
    readonly live: boolean,
  ) {}

  /**
   * The tracing of a gateway: the given tracer, or the global one (live only when an SDK
   * was registered before the gateway was created).
   */
  static create(tracer: Tracer | undefined): Telemetry {
    if (tracer) return new Telemetry(tracer, true);
    return new Telemetry(trace.getTracer(TRACER_NAME, TOOLGATE_VERSION), globalTracingRegistered());
  }

  /**
   * Starts the span of one MCP request, parented on the caller's W3C trace context
   * (`params._meta.traceparent`, where the 2026 revision of MCP carries it, else the
   * `traceparent` header). Undefined when tracing is off and the caller sent none.
   */
  request(
    msg: RpcMessage,
    headers: IncomingHttpHeaders,
    sessionId: string | undefined,
    identity: Identity,
  ): RequestTrace | undefined {
    const meta = msg.params?._meta as Record<string, unknown> | undefined;
    const remote =
      meta?.traceparent !== undefined
        ? parseTraceparent(meta.traceparent, meta.tracestate)
        : headerValue(headers, "traceparent") !== undefined
          ? parseTraceparent(
              headerValue(headers, "traceparent"),
              headerValue(headers, "tracestate"),
            )
          : undefined;
    if (!this.live && remote === undefined) return undefined;
    const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
    const method = String(msg.method);
    const target =
      method === "tools/call" || method === "prompts/get"
        ? (msg.params?.name as unknown)
        : undefined;
    const name = typeof target === "string" ? `${method} ${target.slice(0, 128)}` : method;
    let span: Span;
    if (this.live) {
      const a: Attributes = {
        "mcp.method.name": method,
        "jsonrpc.protocol.version": "2.0",
        "network.transport": "tcp",
        "network.protocol.name": "http",
        "toolgate.grant": identity.grant,
      };
      if (msg.id !== undefined) a["jsonrpc.request.id"] = String(msg.id);
      if (sessionId !== undefined) a["mcp.session.id"] = sessionId;
      const pv = headerValue(headers, "mcp-protocol-version");
      if (pv !== undefined) a["mcp.protocol.version"] = pv;
      if (method === "tools/call" && typeof target === "string") {
        a["gen_ai.operation.name"] = "execute_tool";
        a["gen_ai.tool.name"] = target;
      } else if (method === "prompts/get" && typeof target === "string") {
        a["gen_ai.prompt.name"] = target;
      }
      if (identity.sub !== undefined) a["toolgate.subject"] = identity.sub;
      if (identity.clientId !== undefined) a["toolgate.client_id"] = identity.clientId;
      span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: a }, parent);
    } else {
      // No SDK: a non-recording span that only carries the caller's context onward.
      span = trace.wrapSpanContext(remote as SpanContext);
    }
    return new RequestTrace(this, span, trace.setSpan(parent, span));
  }

  /**
   * Runs `decide` inside a `toolgate.decide` span; store reservations made meanwhile get
   * their own child span (see {@link Telemetry.traceStore}).
   */
  decide(rt: RequestTrace | undefined, decide: () => Promise<Decision>): Promise<Decision> {
    if (rt === undefined || !rt.span.isRecording()) return decide();
    const { span, context } = rt.child("toolgate.decide", SpanKind.INTERNAL);
    return this.reserving.run(context, decide).then(
      (d) => {
        span.setAttributes(decisionAttributes(d));
        rt.decided(d);
        span.end();
        return d;
      },
      (e: unknown) => {
        span.recordException(e as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        throw e;
      },
    );
  }

  /**
   * Wraps a counter store so each `reserve` made during a traced decision is a
   * `toolgate.store.reserve` span. Returns the store unchanged when tracing is off (the
   * engine keeps its synchronous in-process fast path then).
   */
  traceStore(store: CounterStore): CounterStore {
    if (!this.live) return store;
    const { tracer, reserving } = this;
    return {
      name: store.name,
      reserve(specs) {
        const parent = reserving.getStore();
        if (parent === undefined) return store.reserve(specs);
        const span = tracer.startSpan(
          "toolgate.store.reserve",
          {
            kind: SpanKind.INTERNAL,
            attributes: { "toolgate.store": store.name, "toolgate.counters": specs.length },
          },
          parent,
        );
        return store.reserve(specs).then(
          (out) => {
            span.setAttribute("toolgate.admitted", out.admitted);
            if (out.degraded) span.setAttribute("toolgate.degraded_mode", out.degraded.mode);
            span.end();
            return out;
          },
          (e: unknown) => {
            span.recordException(e as Error);
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
            throw e;
          },
        );
      },
      commit: (r) => store.commit(r),
      rollback: (r) => store.rollback(r),
      peek: (s) => store.peek(s),
      ready: () => store.ready(),
      close: () => store.close(),
    };
  }
}

/**
 * `params` with the span's trace context in `_meta.traceparent` (and `tracestate`), for
 * a request forwarded upstream. HTTP upstreams also send it as the `traceparent` header
 * (see the HTTP transport). Unchanged when there is no valid context.
 */
export function withTraceMeta(
  params: RpcMessage["params"],
  span: Span | undefined,
): RpcMessage["params"] {
  if (span === undefined) return params;
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return params;
  const meta: Record<string, unknown> = {
    ...(params?._meta as Record<string, unknown> | undefined),
    traceparent: formatTraceparent(sc),
  };
  const ts = sc.traceState?.serialize();
  if (ts) meta.tracestate = ts;
  else delete meta.tracestate;
  return { ...params, _meta: meta };
}

/**
 * W3C trace context headers of a message whose `_meta` carries one (the session puts the
 * gateway's span there): HTTP upstreams get it both ways, as the 2026 revision of MCP
 * reads it from `_meta` and HTTP instrumentation reads the header.
 */
export function traceHeaders(msg: RpcMessage): Record<string, string> | undefined {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  const tp = meta?.traceparent;
  // Only a well-formed value becomes a header: `_meta` may also hold whatever a client
  // put there (when the gateway does not trace), which must not reach upstream headers.
  if (typeof tp !== "string" || parseTraceparent(tp) === undefined) return undefined;
  const h: Record<string, string> = { traceparent: tp };
  const ts = meta?.tracestate;
  if (typeof ts === "string" && ts.length <= 512 && /^[\x20-\x7e]*$/.test(ts)) h.tracestate = ts;
  return h;
}
