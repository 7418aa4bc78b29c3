// Hostile policy files: whatever bytes or shapes arrive, loading either yields a policy
// that compiles, or a PolicyError with a stable code and issues that each name a path,
// the problem and the fix. Nothing else may escape (no TypeError from deep inside zod,
// Ajv, the YAML parser or the regex compiler), and a holder keeps its last good policy.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compilePolicy,
  createPolicyEngine,
  type PolicyDocument,
  PolicyError,
  PolicyErrorCode,
  PolicyHolder,
  parsePolicy,
  parsePolicyText,
} from "../src/index.js";

const GOOD: PolicyDocument = {
  version: "1",
  default: "deny",
  hide: ["admin_*"],
  all_tools: { limits: [{ counter: "everything", window: "minute", max: 600, scope: "grant" }] },
  tools: {
    binance_us_create_listen_key: {
      limits: [
        { counter: "binance_us_create_listen_key_rate", window: "minute", max: 10, scope: "grant" },
      ],
    },
    "binance_us_order_*": {
      action: "require_approval",
      reason: "orders need a person's approval",
      require: [{ path: "args.quantity", op: "lte", value: 100 }],
      deny_if: [{ path: "args.symbol", op: "not_in", value: ["BTCUSD", "ETHUSD"] }],
      arguments: { type: "object", required: ["symbol", "quantity"] },
      limits: [{ counter: "usd_spend", window: "day", max: 5000, increment_from: "args.usd" }],
    },
  },
} as PolicyDocument;

const CODES = new Set<string>([PolicyErrorCode.POLICY_PARSE, PolicyErrorCode.POLICY_INVALID]);

/** Loads through the whole path a policy file takes; returns what happened. */
function load(text: string, source: string): "ok" | PolicyError {
  try {
    const doc = parsePolicyText(text, { source });
    compilePolicy(doc, { source });
    return "ok";
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    return err;
  }
}

function expectWellFormed(err: PolicyError, source: string): void {
  expect(CODES.has(err.code)).toBe(true);
  expect(err.issues.length).toBeGreaterThan(0);
  for (const issue of err.issues) {
    expect(typeof issue.path).toBe("string");
    expect(issue.message.length).toBeGreaterThan(0);
    expect(issue.fix.length).toBeGreaterThan(0);
  }
  // A log line of the message alone is enough to find the file.
  expect(err.message).toContain(source);
}

/** Every path into a JSON value, as key lists. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...prefix, i]));
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  }
  return out;
}

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = value;
  return copy;
}

const GOOD_PATHS = paths(GOOD);

// Hundreds of generated cases per property: seconds of CPU on a quiet machine, several
// times that on a loaded CI box, so these get a minute rather than the default 5 s.
describe("hostile policy files", { timeout: 60_000 }, () => {
  // A YAML quirk must become a PolicyError, not a stray process warning on stderr.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  beforeAll(() => {
    process.on("warning", onWarning);
  });
  afterAll(() => {
    process.off("warning", onWarning);
    expect(warnings).toEqual([]);
  });

  it("refuses YAML that would silently mean something else (unknown tags, odd aliases)", () => {
    for (const text of [
      'version: "1"\ndefault: !!denyy deny\n',
      'version: "1"\ntools: { t: { reason: !custom x } }\n',
      'version: "1"\nx: &a 1\ndefault: *a:\n',
    ]) {
      const r = load(text, "odd.yaml");
      expect(r).not.toBe("ok");
      expect((r as PolicyError).code).toBe(PolicyErrorCode.POLICY_PARSE);
      expectWellFormed(r as PolicyError, "odd.yaml");
    }
  });

  it("arbitrary text as JSON or YAML: a policy or a PolicyError naming path and fix", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "grapheme" }),
          fc.string({ unit: "binary" }),
          fc.json(),
          // Plausible YAML lines, so the parser gets past the first character.
          fc
            .array(
              fc.tuple(
                fc.constantFrom("version", "default", "tools", "hide", "all_tools", "x", "- "),
                fc.constantFrom(": ", ":", " ", ": [", ": {", ": &a", ": *a", ": !!binary "),
                fc.string(),
              ),
              { maxLength: 8 },
            )
            .map((lines) => lines.map((l) => l.join("")).join("\n")),
        ),
        fc.constantFrom("policy.json", "policy.yaml"),
        (text, source) => {
          const r = load(text, source);
          if (r !== "ok") expectWellFormed(r, source);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("a good policy with one value replaced anywhere: valid or rejected at a path", async () => {
    const engine = createPolicyEngine();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...GOOD_PATHS),
        fc.oneof(
          fc.jsonValue(),
          fc.constantFrom(
            "(",
            "[a-",
            "*",
            "**",
            "",
            -1,
            0,
            1e308,
            Number.MAX_SAFE_INTEGER + 2,
            "10 fortnights",
            "-5m",
            { type: "no-such-type" },
            { $ref: "#/nowhere" },
            "__proto__",
          ),
        ),
        async (path, value) => {
          const doc = setAt(GOOD, path, value);
          const text = JSON.stringify(doc);
          const r = load(text, "mutated.json");
          if (r === "ok") {
            // Accepted means usable: the engine decides calls with it without throwing.
            const policy = compilePolicy(parsePolicy(doc));
            for (const name of ["binance_us_order_buy", "binance_us_create_listen_key", "x"]) {
              const d = await engine.decide(
                policy,
                { name, arguments: { quantity: 1, symbol: "BTCUSD", usd: 3 } },
                { grant: "g" },
              );
              expect(["allow", "deny", "require_approval"]).toContain(d.effect);
              await d.reservation?.rollback();
            }
            return;
          }
          expectWellFormed(r, "mutated.json");
        },
      ),
      { numRuns: 400 },
    );
  });

  it("resource-exhaustion shapes are refused quickly, as parse or schema errors", () => {
    let bomb = 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]\n';
    for (let i = 1; i < 9; i++)
      bomb += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(",")}]\n`;
    bomb += 'version: "1"\ntools:\n  t: { reason: *a8 }\n';
    const deepJson = `{"version":"1","tools":{"t":{"reason":${"[".repeat(50_000)}${"]".repeat(50_000)}}}}`;
    const deepYaml = `version: "1"\nx: ${"[".repeat(5_000)}${"]".repeat(5_000)}\n`;
    const manyTools = JSON.stringify({
      version: "1",
      tools: Object.fromEntries(
        Array.from({ length: 20_000 }, (_, i) => [`t${i}*`, { action: 7 }]),
      ),
    });
    for (const [text, source] of [
      [bomb, "bomb.yaml"],
      [deepJson, "deep.json"],
      [deepYaml, "deep.yaml"],
      [manyTools, "many.json"],
    ] as const) {
      const started = performance.now();
      const r = load(text, source);
      expect(r).not.toBe("ok");
      expectWellFormed(r as PolicyError, source);
      // Generous: the point is "no minutes-long hang", not speed.
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  });

  it("a holder fed garbage keeps deciding with its last good policy", async () => {
    const holder = new PolicyHolder(compilePolicy(GOOD, { source: "good.json" }));
    const version = holder.current.version;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (text) => {
        const r = holder.reload(text, { source: "policy.json" });
        if (r.ok) {
          // The rare garbage that is a valid policy is adopted; put the good one back.
          expect(holder.reload(JSON.stringify(GOOD), { source: "good.json" }).ok).toBe(true);
        } else {
          expect(r.error).toBeInstanceOf(PolicyError);
        }
        expect(holder.current.version).toBe(version);
      }),
      { numRuns: 300 },
    );
  });
});
