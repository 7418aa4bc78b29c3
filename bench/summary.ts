/**
 * The last step of `pnpm bench`: reads every bench/results/<package>.json the package
 * benchmarks just wrote, prints ONE table (area, measure, figure, the baseline measured
 * in the same run, ratio, target, met?) and writes bench/results/summary.json.
 *
 * The targets are the ones the issues set for each package; the gateway has none of its
 * own, so it is held to the middleware's (mcp-express) end to end. Whether a target is met
 * is computed here from the figures, so one table decides it the same way for every area.
 *
 * Run: pnpm bench (all benchmarks, then this), or on its own: pnpm bench:summary
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
const SUMMARY = "summary.json";

/** One line of the summary: a figure, its same-run baseline, and the target if any. */
interface SummaryRow {
  area: string;
  measure: string;
  figure: Figure;
  baseline: Figure & { name: string };
  /** figure ÷ baseline (same unit), or the median of per-round ratios when `paired`. */
  ratio: number;
  /**
   * The bench interleaved rounds and paired them: the ratio is the median of per-round
   * ratios, which a burst of load from elsewhere skews less than a ratio of medians.
   */
  paired?: true;
  target: string | null;
  met: boolean | null;
  /** Extra context shown after the figure, e.g. the added latency. */
  note?: string;
}

interface Figure {
  value: number;
  unit: "/s" | "µs" | "ms";
}

const fig = (value: number, unit: Figure["unit"]): Figure => ({ value, unit });
const base = (name: string, value: number, unit: Figure["unit"]) => ({ name, value, unit });
const ratioOf = (a: number, b: number) => a / b;

// ------------------------------------------------------------------ result file shapes
// Loose objects: the summary reads what it needs and ignores what a bench adds later.

const PolicyEngineResults = z.looseObject({
  quick: z.boolean().optional(),
  rows: z.array(z.looseObject({ scenario: z.string(), opsPerSec: z.number(), p99Us: z.number() })),
});

const RateLimitStoreResults = z.looseObject({
  quick: z.boolean().optional(),
  rows: z.array(
    z.looseObject({
      name: z.string(),
      concurrency: z.number(),
      opsPerSec: z.number(),
      p50Us: z.number().nullable(),
      ratio: z.number().optional(),
      /** p50 ÷ the p50 of the row's `p50Baseline`, median of interleaved rounds. */
      p50Ratio: z.number().optional(),
    }),
  ),
});

const McpExpressResults = z.looseObject({
  quick: z.boolean().optional(),
  rows: z.array(
    z.looseObject({
      concurrency: z.number(),
      mount: z.string(),
      directRps: z.number(),
      gatewayRps: z.number(),
      throughputRatio: z.number(),
      directP50Ms: z.number(),
      gatewayP50Ms: z.number(),
      addedP50Ms: z.number(),
    }),
  ),
});

const McpExpressIdentityResults = z.looseObject({
  quick: z.boolean().optional(),
  perCallUs: z.looseObject({
    apiKeyUs: z.number(),
    rs256Us: z.number(),
    es256Us: z.number(),
    reusedTokenUs: z.number(),
    reusedTokenToApiKey: z.number(),
  }),
  c32: z.looseObject({
    concurrency: z.number(),
    apiKeyRps: z.number(),
    oauthRps: z.number(),
    tracedRps: z.number(),
    oauthToApiKey: z.number(),
    tracingOnToOff: z.number(),
  }),
});

const BinanceUsResults = z.looseObject({
  quick: z.boolean().optional(),
  parse: z.looseObject({
    jsonParsePerSec: z.number(),
    validatedPerSec: z.number(),
    deliveredPerSec: z.number(),
    validatedToJsonRatio: z.number(),
    deliveredToJsonRatio: z.number(),
    targetPerSec: z.number(),
  }),
  reconnect: z.looseObject({
    targetMs: z.number(),
    medianMs: z.number(),
    maxMs: z.number(),
    coldConnectMedianMs: z.number(),
  }),
  keepalive: z
    .looseObject({
      restMedianMs: z.number(),
      wsApiMedianMs: z.number(),
      wsApiToRestRatio: z.number(),
    })
    .optional(),
});

const GatewayResults = z.looseObject({
  quick: z.boolean().optional(),
  redis: z.looseObject({ used: z.boolean(), why: z.string().optional() }),
  rows: z.array(
    z.looseObject({
      id: z.string(),
      medianUs: z.number(),
      ratioToBaseline: z.number(),
      addedMedianUs: z.number(),
    }),
  ),
  redisVsMemory: z
    .looseObject({
      ratio: z.number(),
      addedMedianUs: z.number(),
      redisRoundTripUs: z.number().optional(),
      addedRoundTrips: z.number().optional(),
    })
    .nullable(),
  vsBareProxy: z
    .record(z.string(), z.looseObject({ ratio: z.number(), addedMedianUs: z.number() }))
    .optional(),
  answerPath: z
    .looseObject({
      delayMs: z.number(),
      memoryMedianMs: z.number(),
      delayedRedisMedianMs: z.number(),
      roundTrips: z.number(),
    })
    .nullable()
    .optional(),
  balancer: z
    .looseObject({
      concurrency: z.number(),
      store: z.string(),
      oneGatewayRps: z.number(),
      twoGatewaysRps: z.number(),
      twoToOne: z.number(),
    })
    .optional(),
  concurrent: z.looseObject({
    concurrency: z.number(),
    rows: z.array(
      z.looseObject({
        id: z.string(),
        rps: z.number(),
        throughputRatio: z.number(),
        upstreamCpuUsPerCall: z.number(),
        gatewayCpuUsPerCall: z.number().nullable(),
      }),
    ),
    redisVsMemory: z.looseObject({ throughputRatio: z.number() }).nullable(),
    vsBareProxy: z
      .record(
        z.string(),
        z.looseObject({ throughputRatio: z.number(), cpuPerCallRatio: z.number() }),
      )
      .optional(),
  }),
});

/** Thrown when a results file lacks a row the summary needs; names the file and the row. */
class MissingRow extends Error {
  override name = "MissingRow";
}

function pick<T>(rows: readonly T[], test: (r: T) => boolean, what: string): T {
  const row = rows.find(test);
  if (row === undefined) throw new MissingRow(`no row for ${what}`);
  return row;
}

// ------------------------------------------------------------------ one extractor per file

type Extractor = (json: unknown) => SummaryRow[];

function policyEngine(json: unknown): SummaryRow[] {
  const { rows } = PolicyEngineResults.parse(json);
  const by = (prefix: string) => pick(rows, (r) => r.scenario.startsWith(prefix), prefix);
  const map = by("baseline: await Map.get");
  const mapBase = base("await Map.get", map.opsPerSec, "/s");
  const a = by("(a)");
  const b = by("(b)");
  const c = by("(c)");
  const d = by("(d)");
  const area = "policy-engine";
  return [
    {
      area,
      measure: "(a) exact name, decisions/s",
      figure: fig(a.opsPerSec, "/s"),
      baseline: mapBase,
      ratio: ratioOf(a.opsPerSec, map.opsPerSec),
      target: "≥ 1 M/s",
      met: a.opsPerSec >= 1e6,
    },
    {
      area,
      measure: "(a) exact name, p99",
      figure: fig(a.p99Us, "µs"),
      baseline: base("await Map.get", map.p99Us, "µs"),
      ratio: ratioOf(a.p99Us, map.p99Us),
      target: "< 5 µs",
      met: a.p99Us < 5,
    },
    {
      area,
      measure: "(b) 1,000 tools + 50 globs, decisions/s",
      figure: fig(b.opsPerSec, "/s"),
      baseline: base("(a)", a.opsPerSec, "/s"),
      ratio: ratioOf(b.opsPerSec, a.opsPerSec),
      target: "≥ 0.5x (within 2x of (a))",
      met: b.opsPerSec * 2 >= a.opsPerSec,
    },
    {
      area,
      measure: "(c) conditions + JSON Schema, decisions/s",
      figure: fig(c.opsPerSec, "/s"),
      baseline: mapBase,
      ratio: ratioOf(c.opsPerSec, map.opsPerSec),
      target: null,
      met: null,
    },
    {
      area,
      measure: "(d) decide + commit, memory store, decisions/s",
      figure: fig(d.opsPerSec, "/s"),
      baseline: mapBase,
      ratio: ratioOf(d.opsPerSec, map.opsPerSec),
      target: "≥ 500 k/s",
      met: d.opsPerSec >= 5e5,
    },
  ];
}

function rateLimitStore(json: unknown): SummaryRow[] {
  const { rows } = RateLimitStoreResults.parse(json);
  const by = (name: string, c: number) =>
    pick(rows, (r) => r.name === name && r.concurrency === c, `${name} at concurrency ${c}`);
  const area = "rate-limit-store";
  const out: SummaryRow[] = [];
  for (const c of [1, 64]) {
    const rlf = by("rlf RateLimiterMemory.consume", c);
    const mem = by("memory store reserve", c);
    out.push({
      area,
      measure: `memory reserve/s at c${c}`,
      figure: fig(mem.opsPerSec, "/s"),
      baseline: base(`rlf consume c${c}`, rlf.opsPerSec, "/s"),
      ratio: ratioOf(mem.opsPerSec, rlf.opsPerSec),
      target: "≥ 1 M/s",
      met: mem.opsPerSec >= 1e6,
    });
  }
  // The store's own latency: p50 next to a bare ioredis INCR on its own connection from
  // the same process, interleaved in the same run (one round trip from Node, no script).
  const incr1 = by("ioredis INCR (bare client)", 1);
  const redis1 = by("redis store reserve", 1);
  if (redis1.p50Us === null || incr1.p50Us === null) throw new MissingRow("Redis p50 at c1");
  const p50Ratio = redis1.p50Ratio ?? ratioOf(redis1.p50Us, incr1.p50Us);
  out.push({
    area,
    measure: "Redis reserve p50 at c1",
    figure: fig(redis1.p50Us, "µs"),
    baseline: base("bare ioredis INCR c1", incr1.p50Us, "µs"),
    ratio: p50Ratio,
    ...(redis1.p50Ratio !== undefined && { paired: true as const }),
    target: "≤ 1.2x",
    met: p50Ratio <= 1.2,
  });
  const incr64 = by("redis-benchmark -t incr", 64);
  const redis64 = by("redis store reserve", 64);
  const vsIncr = base("redis-benchmark INCR c64", incr64.opsPerSec, "/s");
  const ratio64 = ratioOf(redis64.opsPerSec, incr64.opsPerSec);
  out.push(
    {
      area,
      measure: "Redis reserve/s at c64",
      figure: fig(redis64.opsPerSec, "/s"),
      baseline: vsIncr,
      ratio: ratio64,
      // The performance issue's bar (it was 0.5x before it).
      target: "≥ 0.8x",
      met: ratio64 >= 0.8,
    },
    {
      area,
      measure: "Redis reserve/s at c64 (absolute)",
      figure: fig(redis64.opsPerSec, "/s"),
      baseline: vsIncr,
      ratio: ratio64,
      target: "≥ 100 k/s",
      met: redis64.opsPerSec >= 1e5,
    },
  );
  // Smooth limits cost per call relative to the fixed window measured in the same run.
  for (const c of [1, 64]) {
    const fixed = by("redis fixed reserve+commit", c);
    for (const alg of ["sliding", "token_bucket"]) {
      const row = by(`redis ${alg} reserve+commit`, c);
      // The bench pairs interleaved rounds: its ratio is the median of per-round ratios.
      const cost =
        row.ratio !== undefined ? 1 / row.ratio : ratioOf(fixed.opsPerSec, row.opsPerSec);
      out.push({
        area,
        measure: `Redis ${alg} cost vs fixed at c${c}`,
        figure: fig(row.opsPerSec, "/s"),
        baseline: base(`redis fixed c${c}`, fixed.opsPerSec, "/s"),
        ratio: cost,
        ...(row.ratio !== undefined && { paired: true as const }),
        target: "≤ 1.3x",
        met: cost <= 1.3,
      });
    }
  }
  return out;
}

function mcpExpress(json: unknown): SummaryRow[] {
  const { rows } = McpExpressResults.parse(json);
  const area = "mcp-express";
  const out: SummaryRow[] = [];
  for (const mount of ["listener", "express"]) {
    const c32 = pick(rows, (r) => r.mount === mount && r.concurrency === 32, `${mount} c32`);
    const c1 = pick(rows, (r) => r.mount === mount && r.concurrency === 1, `${mount} c1`);
    out.push(
      {
        area,
        measure: `calls/s at c32, ${mount} mount`,
        figure: fig(c32.gatewayRps, "/s"),
        baseline: base("direct c32", c32.directRps, "/s"),
        // The bench's own ratio: the median of per-round pairs, not a ratio of medians.
        ratio: c32.throughputRatio,
        paired: true,
        target: "≥ 0.70x",
        met: c32.throughputRatio >= 0.7,
      },
      {
        area,
        measure: `p50 at c1, ${mount} mount`,
        figure: fig(c1.gatewayP50Ms, "ms"),
        baseline: base("direct c1", c1.directP50Ms, "ms"),
        ratio: ratioOf(c1.gatewayP50Ms, c1.directP50Ms),
        note: signed(c1.addedP50Ms, "ms", 3),
        target: "added ≤ 0.5 ms",
        met: c1.addedP50Ms <= 0.5,
      },
    );
  }
  return out;
}

function mcpExpressIdentity(json: unknown): SummaryRow[] {
  const { perCallUs: p, c32 } = McpExpressIdentityResults.parse(json);
  const area = "mcp-express";
  const apiKey = base("API-key lookup", p.apiKeyUs, "µs");
  const c = `c${c32.concurrency}`;
  return [
    {
      area,
      measure: "OAuth token check per call, RS256, cached keys",
      figure: fig(p.rs256Us, "µs"),
      baseline: apiKey,
      ratio: ratioOf(p.rs256Us, p.apiKeyUs),
      target: null,
      met: null,
    },
    {
      area,
      measure: "OAuth token check per call, ES256, cached keys",
      figure: fig(p.es256Us, "µs"),
      baseline: apiKey,
      ratio: ratioOf(p.es256Us, p.apiKeyUs),
      target: null,
      met: null,
    },
    {
      area,
      measure: "OAuth token check per call, token reused (verified before)",
      figure: fig(p.reusedTokenUs, "µs"),
      baseline: apiKey,
      ratio: p.reusedTokenToApiKey,
      paired: true,
      target: null,
      met: null,
    },
    {
      area,
      measure: `calls/s at ${c}, OAuth token`,
      figure: fig(c32.oauthRps, "/s"),
      baseline: base(`API key ${c}`, c32.apiKeyRps, "/s"),
      ratio: c32.oauthToApiKey,
      paired: true,
      target: null,
      met: null,
    },
    {
      area,
      measure: `calls/s at ${c}, tracing on (SDK, every request sampled)`,
      figure: fig(c32.tracedRps, "/s"),
      baseline: base(`tracing off ${c}`, c32.apiKeyRps, "/s"),
      ratio: c32.tracingOnToOff,
      paired: true,
      target: null,
      met: null,
    },
  ];
}

function binanceUs(json: unknown): SummaryRow[] {
  const { parse, reconnect, keepalive } = BinanceUsResults.parse(json);
  const area = "binance-us";
  const jsonBase = base("JSON.parse alone", parse.jsonParsePerSec, "/s");
  return [
    {
      area,
      measure: "executionReport parse + validate, events/s",
      figure: fig(parse.validatedPerSec, "/s"),
      baseline: jsonBase,
      ratio: parse.validatedToJsonRatio,
      paired: true,
      target: `≥ ${parse.targetPerSec / 1000} k/s`,
      met: parse.validatedPerSec >= parse.targetPerSec,
    },
    {
      area,
      measure: "full stream delivery, events/s",
      figure: fig(parse.deliveredPerSec, "/s"),
      baseline: jsonBase,
      ratio: parse.deliveredToJsonRatio,
      paired: true,
      target: null,
      met: null,
    },
    {
      area,
      measure: "dropped socket -> event on new one, median",
      figure: fig(reconnect.medianMs, "ms"),
      baseline: base("first connect -> event", reconnect.coldConnectMedianMs, "ms"),
      ratio: ratioOf(reconnect.medianMs, reconnect.coldConnectMedianMs),
      note: `max ${reconnect.maxMs} ms`,
      target: `every trial < ${reconnect.targetMs} ms`,
      met: reconnect.maxMs < reconnect.targetMs,
    },
    ...(keepalive
      ? [
          {
            area,
            measure: "keepalive round trip, WebSocket API, median",
            figure: fig(keepalive.wsApiMedianMs, "ms"),
            baseline: base("REST PUT", keepalive.restMedianMs, "ms"),
            ratio: keepalive.wsApiToRestRatio,
            paired: true as const,
            target: null,
            met: null,
          },
        ]
      : []),
  ];
}

function gateway(json: unknown): SummaryRow[] {
  const g = GatewayResults.parse(json);
  const area = "gateway";
  const seq = (id: string) => pick(g.rows, (r) => r.id === id, `sequential ${id}`);
  const direct = seq("direct");
  const directBase = base("direct", direct.medianUs, "µs");
  const out: SummaryRow[] = [];
  const latency = (id: string, label: string, target: boolean) => {
    const r = seq(id);
    out.push({
      area,
      measure: `sequential call median, ${label}`,
      figure: fig(r.medianUs, "µs"),
      baseline: directBase,
      ratio: r.ratioToBaseline,
      paired: true,
      note: signed(r.addedMedianUs, "µs"),
      target: target ? "added ≤ 0.5 ms (as mcp-express)" : null,
      met: target ? r.addedMedianUs <= 500 : null,
    });
  };
  latency("policy-only", "policy only", false);
  latency("memory", "as shipped, memory", true);
  latency("memory-express", "as shipped, memory, Express mount", false);
  const hasRedis = g.rows.some((r) => r.id === "redis");
  if (hasRedis) {
    latency("redis", "as shipped, Redis", true);
    const redis = seq("redis");
    const memory = seq("memory");
    if (g.redisVsMemory)
      out.push({
        area,
        measure: "sequential call median, Redis vs memory store",
        figure: fig(redis.medianUs, "µs"),
        baseline: base("as shipped, memory", memory.medianUs, "µs"),
        ratio: g.redisVsMemory.ratio,
        paired: true,
        note: signed(g.redisVsMemory.addedMedianUs, "µs"),
        target: null,
        met: null,
      });
    const rv = g.redisVsMemory;
    if (rv?.addedRoundTrips !== undefined && rv.redisRoundTripUs !== undefined)
      out.push({
        area,
        measure: "sequential call, Redis added over memory, in Redis round trips",
        figure: fig(rv.addedMedianUs, "µs"),
        baseline: base("bare ioredis INCR, same process", rv.redisRoundTripUs, "µs"),
        ratio: rv.addedRoundTrips,
        paired: true,
        target: "≤ 1 round trip",
        met: rv.addedRoundTrips <= 1,
      });
    const ap = g.answerPath;
    if (ap)
      out.push({
        area,
        measure: `Redis round trips a call's answer waits for (every Redis exchange delayed ${ap.delayMs} ms)`,
        figure: fig(Math.round((ap.delayedRedisMedianMs - ap.memoryMedianMs) * 100) / 100, "ms"),
        baseline: base("one delayed Redis exchange", ap.delayMs, "ms"),
        ratio: ap.roundTrips,
        paired: true,
        // Whole exchanges are what is counted; the fraction above them is CPU time.
        note: "added over the memory store",
        target: "≤ 1 round trip",
        met: ap.roundTrips < 1.5,
      });
  }
  const c = g.concurrent;
  const side = (id: string) => pick(c.rows, (r) => r.id === id, `concurrent ${id}`);
  const cDirect = side("direct");
  for (const [id, label] of [
    ["memory", "memory"],
    ["redis", "Redis"],
  ] as const) {
    if (id === "redis" && !hasRedis) continue;
    const r = side(id);
    out.push({
      area,
      measure: `calls/s at c${c.concurrency}, as shipped, ${label}`,
      figure: fig(r.rps, "/s"),
      baseline: base(`direct c${c.concurrency}`, cDirect.rps, "/s"),
      ratio: r.throughputRatio,
      paired: true,
      target: "≥ 0.70x (as mcp-express)",
      met: r.throughputRatio >= 0.7,
    });
  }
  const cMemory = side("memory");
  if (cMemory.gatewayCpuUsPerCall !== null)
    out.push({
      area,
      measure: `gateway CPU per call at c${c.concurrency}, memory`,
      figure: fig(cMemory.gatewayCpuUsPerCall, "µs"),
      baseline: base("upstream CPU per call", cMemory.upstreamCpuUsPerCall, "µs"),
      ratio: ratioOf(cMemory.gatewayCpuUsPerCall, cMemory.upstreamCpuUsPerCall),
      target: null,
      met: null,
    });
  if (hasRedis) {
    const cRedis = side("redis");
    if (cRedis.gatewayCpuUsPerCall !== null && cMemory.gatewayCpuUsPerCall !== null)
      out.push({
        area,
        measure: `gateway CPU per call at c${c.concurrency}, Redis`,
        figure: fig(cRedis.gatewayCpuUsPerCall, "µs"),
        baseline: base("gateway CPU, memory", cMemory.gatewayCpuUsPerCall, "µs"),
        ratio: ratioOf(cRedis.gatewayCpuUsPerCall, cMemory.gatewayCpuUsPerCall),
        target: null,
        met: null,
      });
  }
  out.push(...againstBareProxy(g));
  return out;
}

/**
 * The gateway against the bare Node proxy (the floor of any Node HTTP hop, measured in
 * the same run): CPU per call and throughput at c=32, sequential median; targets from
 * the performance issue (CPU ≤ 1.2x on memory, ≤ 1.4x on Redis; throughput ≥ 0.95x;
 * sequential ≤ 1.05x). Plus two gateways behind a round-robin balancer vs one.
 */
function againstBareProxy(g: z.infer<typeof GatewayResults>): SummaryRow[] {
  const area = "gateway";
  const out: SummaryRow[] = [];
  const c = g.concurrent;
  const bare = c.rows.find((r) => r.id === "bare-proxy");
  const bareSeq = g.rows.find((r) => r.id === "bare-proxy");
  // The minimal JSON-RPC proxy is a second floor (what parsing each message costs at
  // the least), shown without targets.
  const labels = [
    ["parse-proxy", "minimal JSON-RPC proxy (no policy)", null, false],
    ["policy-only", "policy only, no audit", null, true],
    ["memory", "as shipped, memory", 1.2, true],
    ["redis", "as shipped, Redis", 1.4, true],
  ] as const;
  for (const [id, label, cpuTarget, gateway] of labels) {
    const row = c.rows.find((r) => r.id === id);
    const vs = c.vsBareProxy?.[id];
    if (bare === undefined || row === undefined || vs === undefined) continue;
    if (row.gatewayCpuUsPerCall !== null && bare.gatewayCpuUsPerCall !== null)
      out.push({
        area,
        measure: `${gateway ? "gateway " : ""}CPU per call at c${c.concurrency}, ${label}`,
        figure: fig(row.gatewayCpuUsPerCall, "µs"),
        baseline: base("bare proxy", bare.gatewayCpuUsPerCall, "µs"),
        ratio: vs.cpuPerCallRatio,
        target: cpuTarget === null ? null : `≤ ${cpuTarget}x`,
        met: cpuTarget === null ? null : vs.cpuPerCallRatio <= cpuTarget,
      });
    out.push({
      area,
      measure: `calls/s at c${c.concurrency}, ${label}`,
      figure: fig(row.rps, "/s"),
      baseline: base("bare proxy", bare.rps, "/s"),
      ratio: vs.throughputRatio,
      paired: true,
      target: gateway ? "≥ 0.95x" : null,
      met: gateway ? vs.throughputRatio >= 0.95 : null,
    });
  }
  for (const [id, label] of [
    ["memory", "as shipped, memory"],
    ["redis", "as shipped, Redis"],
  ] as const) {
    const row = g.rows.find((r) => r.id === id);
    const vs = g.vsBareProxy?.[id];
    if (bareSeq === undefined || row === undefined || vs === undefined) continue;
    out.push({
      area,
      measure: `sequential call median, ${label}`,
      figure: fig(row.medianUs, "µs"),
      baseline: base("bare proxy", bareSeq.medianUs, "µs"),
      ratio: vs.ratio,
      paired: true,
      note: signed(vs.addedMedianUs, "µs"),
      target: "≤ 1.05x",
      met: vs.ratio <= 1.05,
    });
  }
  const b = g.balancer;
  if (b !== undefined)
    out.push({
      area,
      measure: `calls/s at c${b.concurrency}, two gateways behind a balancer (2026 stateless, ${b.store})`,
      figure: fig(b.twoGatewaysRps, "/s"),
      baseline: base("one gateway behind it", b.oneGatewayRps, "/s"),
      ratio: b.twoToOne,
      paired: true,
      target: null,
      met: null,
    });
  return out;
}

/** Results files the summary knows, in the order the table shows them. */
const EXTRACTORS: ReadonlyArray<readonly [file: string, extract: Extractor]> = [
  ["policy-engine.json", policyEngine],
  ["rate-limit-store.json", rateLimitStore],
  ["mcp-express.json", mcpExpress],
  ["mcp-express-identity.json", mcpExpressIdentity],
  ["mcp-express-modern.json", mcpExpress],
  ["binance-us.json", binanceUs],
  ["gateway.json", gateway],
];

// ------------------------------------------------------------------ formatting

function formatValue(f: Figure): string {
  const v = f.value;
  if (f.unit === "/s") {
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M/s`;
    if (v >= 1e4) return `${(v / 1e3).toFixed(1)} k/s`;
    return `${Math.round(v).toLocaleString("en-US")}/s`;
  }
  const digits = v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${f.unit}`;
}

/** A difference with its sign, e.g. "+0.286 ms" or "-476 µs". */
function signed(v: number, unit: "µs" | "ms", digits = 0): string {
  const abs = Math.abs(v).toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
  return `${v < 0 ? "-" : "+"}${abs} ${unit}`;
}

const RATIO_MEANS = "ratio = figure ÷ baseline; * = median of per-round ratios, rounds interleaved";

function formatRatio(r: number): string {
  return `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}x`;
}

const COLUMNS = ["area", "measure", "figure", "baseline (same run)", "ratio", "target", "met?"];

function cells(r: SummaryRow): string[] {
  const figure = formatValue(r.figure) + (r.note ? ` (${r.note})` : "");
  return [
    r.area,
    r.measure,
    figure,
    `${r.baseline.name}: ${formatValue(r.baseline)}`,
    formatRatio(r.ratio) + (r.paired ? "*" : ""),
    r.target ?? "—",
    r.met === null ? "—" : r.met ? "yes" : "NO",
  ];
}

/** A plain-text table that reads well in a terminal and in CI logs. */
function textTable(rows: readonly SummaryRow[]): string {
  const body = rows.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
  const line = (cs: readonly string[]) => cs.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(COLUMNS), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** The same table as Markdown, for pasting into the README. */
function markdownTable(rows: readonly SummaryRow[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${COLUMNS.join(" | ")} |`,
    `|${COLUMNS.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${cells(r).map(esc).join(" | ")} |`),
  ].join("\n");
}

// ------------------------------------------------------------------ main

interface Source {
  file: string;
  measuredAt: string;
  quick: boolean;
  rows: number;
  error?: string;
}

function main(): number {
  const rows: SummaryRow[] = [];
  const sources: Source[] = [];
  const problems: string[] = [];
  for (const [file, extract] of EXTRACTORS) {
    const path = join(resultsDir, file);
    if (!existsSync(path)) {
      problems.push(`${file}: missing (its package's bench did not run)`);
      continue;
    }
    // The file's mtime is when its bench finished; not every bench records a date.
    const measuredAt = statSync(path).mtime.toISOString();
    try {
      const json: unknown = JSON.parse(readFileSync(path, "utf8"));
      const got = extract(json);
      const quick = z.looseObject({ quick: z.boolean().optional() }).parse(json).quick === true;
      rows.push(...got);
      sources.push({ file, measuredAt, quick, rows: got.length });
    } catch (err) {
      const why =
        err instanceof z.ZodError
          ? err.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")
          : (err as Error).message;
      problems.push(`${file}: ${why}`);
      sources.push({ file, measuredAt, quick: false, rows: 0, error: why });
    }
  }
  const known = new Set<string>([...EXTRACTORS.map(([f]) => f), SUMMARY]);
  for (const f of readdirSync(resultsDir).filter((f) => f.endsWith(".json") && !known.has(f)))
    problems.push(`${f}: no summary rows (add an extractor for it to bench/summary.ts)`);

  // Ratios are paired within each file; the files themselves should come from one run.
  const times = sources.map((s) => Date.parse(s.measuredAt));
  const spreadMin = times.length > 0 ? (Math.max(...times) - Math.min(...times)) / 60_000 : 0;
  const notes: string[] = [];
  if (spreadMin > 30)
    notes.push(
      `results files span ${Math.round(spreadMin)} minutes: they may come from different runs`,
    );
  const quick = sources.filter((s) => s.quick).map((s) => s.file);
  if (quick.length > 0)
    notes.push(`quick mode (${quick.join(", ")}): fewer rounds and calls, figures are indicative`);

  console.log("\nToolgate benchmarks: each figure beside a baseline measured in the same run");
  console.log(`(${RATIO_MEANS}; for latency and CPU, lower is better)\n`);
  console.log(textTable(rows));
  const missed = rows.filter((r) => r.met === false);
  const withTarget = rows.filter((r) => r.met !== null).length;
  console.log(`\ntargets met: ${withTarget - missed.length} of ${withTarget}`);
  for (const n of notes) console.log(`note: ${n}`);
  for (const p of problems) console.log(`problem: ${p}`);

  const summary = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    ratioMeans: RATIO_MEANS,
    sources,
    targetsMet: withTarget - missed.length,
    targetsTotal: withTarget,
    notes,
    problems,
    rows,
    markdown: markdownTable(rows),
  };
  writeFileSync(join(resultsDir, SUMMARY), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote bench/results/${basename(SUMMARY)}`);
  // Missed targets are findings, not failures; unreadable or missing results are failures.
  return problems.length > 0 ? 1 : 0;
}

process.exitCode = main();
