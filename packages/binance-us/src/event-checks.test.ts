import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  isBalanceUpdate,
  isExecutionReport,
  isListenKeyExpired,
  isListStatus,
  isOutboundAccountPosition,
} from "./event-checks.js";
import {
  BalanceUpdateSchema,
  ExecutionReportSchema,
  ListenKeyExpiredSchema,
  ListStatusSchema,
  OutboundAccountPositionSchema,
  type ParsedUserDataEvent,
  parseUserDataPayload,
  unwrapStreamEnvelope,
} from "./events.js";

// The hand-written checks must give zod's verdict on every input, and the parser built on
// them must return what the zod-only parser returned (same kinds, same data object, same
// reasons naming the paths). Valid payloads are generated from the schemas themselves, so a
// field added to a schema is covered without editing this file.

type Fields = Record<string, unknown>;

const TYPES = [
  ["executionReport", ExecutionReportSchema, isExecutionReport],
  ["outboundAccountPosition", OutboundAccountPositionSchema, isOutboundAccountPosition],
  ["balanceUpdate", BalanceUpdateSchema, isBalanceUpdate],
  ["listStatus", ListStatusSchema, isListStatus],
  ["listenKeyExpired", ListenKeyExpiredSchema, isListenKeyExpired],
] as const;

const SCHEMAS: Record<string, z.ZodType> = Object.fromEntries(TYPES.map(([t, s]) => [t, s]));

/** The parser as it was before the checks: zod decides everything. */
function zodOnlyParse(payload: unknown): ParsedUserDataEvent | undefined {
  const value = unwrapStreamEnvelope(payload);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Fields;
  const type = record.e;
  if (typeof type !== "string") return undefined;
  const loose = (v: unknown) =>
    typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined;
  if (!Object.hasOwn(SCHEMAS, type)) {
    return { kind: "unknown", type, eventTime: loose(record.E), data: record };
  }
  const normalised =
    typeof record.E === "string" && /^\d+$/.test(record.E)
      ? { ...record, E: Number(record.E) }
      : record;
  const parsed = SCHEMAS[type]!.safeParse(normalised);
  if (!parsed.success) {
    const reason = parsed.error.issues
      .map((i) => `${i.path.join(".") || "(event)"}: ${i.message}`)
      .join("; ");
    return { kind: "invalid", type, eventTime: loose(record.E), reason, data: record };
  }
  const eventTime = (parsed.data as { E: number }).E;
  return { kind: type, eventTime, data: normalised } as ParsedUserDataEvent;
}

/** An arbitrary producing values the (sub)schema accepts; `undefined` marks "may be absent". */
function validOf(schema: z.ZodType): fc.Arbitrary<unknown> {
  const def = schema.def as unknown as Fields & { type: string };
  switch (def.type) {
    case "string":
      return fc.oneof(fc.string(), fc.constantFrom("0.00000000", "65000.12", "-5.5", ""));
    case "number":
      return fc.oneof(
        fc.integer(),
        fc.constantFrom(-1, 0, -0, 1_767_225_600_000, Number.MAX_VALUE),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      );
    case "boolean":
      return fc.boolean();
    case "literal":
      return fc.constantFrom(...(def.values as unknown[]));
    case "optional":
      return fc.option(validOf(def.innerType as z.ZodType), { nil: undefined });
    case "nullable":
      return fc.oneof(fc.constant(null), validOf(def.innerType as z.ZodType));
    case "array":
      return fc.array(validOf(def.element as z.ZodType), { maxLength: 4 });
    case "object":
      return objectOf(def.shape as Record<string, z.ZodType>);
    default:
      throw new Error(`no generator for zod type ${def.type}`);
  }
}

/** Optional fields are absent, present as `undefined`, or present with a value. */
function objectOf(shape: Record<string, z.ZodType>): fc.Arbitrary<Fields> {
  const keys = Object.keys(shape);
  const model = Object.fromEntries(keys.map((k) => [k, validOf(shape[k]!)]));
  const required = keys.filter((k) => (shape[k]!.def as { type: string }).type !== "optional");
  const extra = fc.record(
    { I: fc.anything(), M: fc.boolean(), zz: fc.string() },
    { requiredKeys: [] },
  );
  return fc
    .tuple(fc.record(model, { requiredKeys: required }), extra)
    .map(([known, more]) => ({ ...more, ...known }));
}

/** Values that probe each rule: wrong types, non-finite numbers, digit strings for `E`. */
const oddValue = fc.oneof(
  fc.constantFrom<unknown>(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -0,
    null,
    undefined,
    "",
    "1699596037418",
    "007",
    "1e3",
    " 1",
    "9".repeat(400),
    true,
    [],
    {},
    [{}],
    [{ a: "BTC", f: "1", l: "0" }],
    [{ s: "BTCUSD", i: 1, c: "a" }],
    "executionReport",
  ),
  fc.anything(),
);

const DELETE = Symbol("delete");

// Property runs take seconds on a loaded machine; vitest's 5 s default would flake.
const SLOW = 30_000;

/** Every path to a property or array element inside `value`. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [];
  const out: (string | number)[][] = [];
  for (const key of Object.keys(value)) {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    out.push(path, ...pathsOf((value as Fields)[key], path));
  }
  return out;
}

/** A copy of `value` with the property at `path` replaced or deleted. */
function mutate(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  const [head, ...rest] = path;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as Fields) }) as Fields;
  const key = head as string;
  if (rest.length > 0) copy[key] = mutate(copy[key], rest, replacement);
  else if (replacement === DELETE) delete copy[key];
  else copy[key] = replacement;
  return copy;
}

/** Valid payloads with one to three fields (nested ones included) replaced or deleted. */
function mutatedOf(schema: z.ZodType): fc.Arbitrary<unknown> {
  const edit = fc.tuple(fc.nat(), fc.oneof(oddValue, fc.constant(DELETE)));
  return fc
    .tuple(validOf(schema), fc.array(edit, { minLength: 1, maxLength: 3 }))
    .map(([start, edits]) => {
      let value: unknown = start;
      for (const [pick, replacement] of edits) {
        const paths = pathsOf(value);
        if (paths.length === 0) break;
        value = mutate(value, paths[pick % paths.length]!, replacement);
      }
      return value;
    });
}

/** Objects of the type built from the schema's field names with any values at all. */
function scrambledOf(type: string, schema: z.ZodType): fc.Arbitrary<unknown> {
  const keys = Object.keys((schema.def as unknown as { shape: Fields }).shape);
  return fc
    .dictionary(fc.constantFrom(...keys, "I", "x1"), oddValue)
    .map((fields) => ({ ...fields, e: type }));
}

function expectSameAsZod(
  schema: z.ZodType,
  check: (r: Fields) => boolean,
  event: unknown,
  wrap = false,
) {
  const ours = parseUserDataPayload(wrap ? { stream: "k", data: event } : event);
  expect(ours).toEqual(zodOnlyParse(wrap ? { stream: "k", data: event } : event));
  if (typeof event !== "object" || event === null || Array.isArray(event)) return;
  const record = event as Fields;
  expect(check(record)).toBe(schema.safeParse(record).success);
  // A valid event is handed out as the very object received (unless `E` was normalised).
  if (ours && ours.kind !== "invalid" && typeof record.E !== "string") {
    expect(ours.data).toBe(record);
  }
}

describe.each(TYPES)("%s: check agrees with the zod schema", (type, schema, check) => {
  const runs = { numRuns: type === "executionReport" ? 1_000 : 400 };

  it(
    "accepts every generated valid payload, with the same output",
    () => {
      fc.assert(
        fc.property(validOf(schema), (payload) => {
          expect(check(payload as Fields)).toBe(true);
          expectSameAsZod(schema, check, payload);
        }),
        runs,
      );
    },
    SLOW,
  );

  it(
    "gives zod's verdict and reason on mutated payloads",
    () => {
      fc.assert(
        fc.property(mutatedOf(schema), (payload) => expectSameAsZod(schema, check, payload)),
        runs,
      );
    },
    SLOW,
  );

  it(
    "gives zod's verdict on scrambled payloads and inside stream envelopes",
    () => {
      fc.assert(
        fc.property(scrambledOf(type, schema), fc.boolean(), (payload, wrap) =>
          expectSameAsZod(schema, check, payload, wrap),
        ),
        runs,
      );
    },
    SLOW,
  );
});

describe("dispatch on `e`", () => {
  it(
    "treats every other `e` (inherited names included) exactly as before",
    () => {
      const e = fc.oneof(
        fc.string(),
        fc.constantFrom("toString", "__proto__", "constructor", "hasOwnProperty", "BalanceUpdate"),
      );
      fc.assert(
        fc.property(e, oddValue, (type, time) => {
          const payload = { e: type, E: time, foo: 1 };
          expect(parseUserDataPayload(payload)).toEqual(zodOnlyParse(payload));
        }),
        { numRuns: 1_000 },
      );
    },
    SLOW,
  );

  it("still names the failing path of an invalid event", () => {
    const ev = parseUserDataPayload({ e: "balanceUpdate", E: Number.NaN, a: 1, d: "1", T: 2 });
    expect(ev?.kind).toBe("invalid");
    if (ev?.kind === "invalid") {
      expect(ev.reason).toMatch(/^E: .*; a: /);
    }
  });
});
