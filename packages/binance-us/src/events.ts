import { z } from "zod";
import {
  isBalanceUpdate,
  isExecutionReport,
  isListenKeyExpired,
  isListStatus,
  isOutboundAccountPosition,
} from "./event-checks.js";

// Field letters are case-sensitive on Binance (`c`/`C`, `x`/`X`, ...), so every schema
// spells them exactly. The schemas validate the fields we know; the parser then hands out
// the original object, so fields the exchange adds later are kept rather than stripped
// (cheaper than a catch-all copy on every event).
//
// These schemas are the definition of a valid event. The parser checks events with the
// hand-written equivalents in `event-checks.ts` and runs a schema only to word the reason
// an event is invalid; change both together (the property test in `event-checks.test.ts`
// generates payloads from these schemas and fails when the two disagree).

// `E` arrives as a number on Binance.US but as a string in `listenKeyExpired`; the parser
// normalises digit strings to numbers before validation (cheaper than a union per event).
const EventTime = z.number();
const Decimal = z.string();

/** `outboundAccountPosition`: balances of the assets that changed. */
export const OutboundAccountPositionSchema = z.object({
  e: z.literal("outboundAccountPosition"),
  E: EventTime,
  u: z.number(),
  B: z.array(z.object({ a: z.string(), f: Decimal, l: Decimal })),
});

/** `balanceUpdate`: a deposit, withdrawal or transfer. */
export const BalanceUpdateSchema = z.object({
  e: z.literal("balanceUpdate"),
  E: EventTime,
  a: z.string(),
  d: Decimal,
  T: z.number(),
});

/** `executionReport`: every order state change and trade. */
export const ExecutionReportSchema = z.object({
  e: z.literal("executionReport"),
  E: EventTime,
  s: z.string(),
  c: z.string(),
  S: z.string(),
  o: z.string(),
  f: z.string(),
  q: Decimal,
  p: Decimal,
  P: Decimal.optional(),
  F: Decimal.optional(),
  g: z.number().optional(),
  C: z.string().optional(),
  x: z.string(),
  X: z.string(),
  r: z.string().optional(),
  i: z.number(),
  l: Decimal,
  z: Decimal,
  L: Decimal,
  n: Decimal.nullable().optional(),
  N: z.string().nullable().optional(),
  T: z.number(),
  t: z.number(),
  w: z.boolean().optional(),
  m: z.boolean().optional(),
  O: z.number().optional(),
  Z: Decimal.optional(),
  Y: Decimal.optional(),
  Q: Decimal.optional(),
  /** Working time: present only while the order is on the book. */
  W: z.number().optional(),
  V: z.string().optional(),
  // Conditional fields, present only in the cases the exchange documents:
  /** Trailing delta (trailing stop orders only). */
  d: z.number().optional(),
  /** Trailing time (trailing stop orders only). */
  D: z.number().optional(),
  /** Prevented match id (orders expired by self-trade prevention only). */
  v: z.number().optional(),
  /** Prevented quantity (STP only). */
  A: Decimal.optional(),
  /** Last prevented quantity (STP only). */
  B: Decimal.optional(),
  /** Trade group id (STP only). */
  u: z.number().optional(),
  /** Counter order id (STP only). */
  U: z.number().optional(),
});

/** `listStatus`: OCO order-list updates. */
export const ListStatusSchema = z.object({
  e: z.literal("listStatus"),
  E: EventTime,
  s: z.string(),
  g: z.number(),
  c: z.string(),
  l: z.string(),
  L: z.string(),
  r: z.string(),
  C: z.string(),
  T: z.number(),
  O: z.array(z.object({ s: z.string(), i: z.number(), c: z.string() })),
});

/** `listenKeyExpired`: the key died; the connector re-creates it and reconnects. */
export const ListenKeyExpiredSchema = z.object({
  e: z.literal("listenKeyExpired"),
  E: EventTime,
  listenKey: z.string().optional(),
});

/** Fields beyond the validated ones, kept as the exchange sent them. */
export type ExtraFields = { readonly [field: string]: unknown };

/** A validated `outboundAccountPosition` payload (`E` normalised to a number). */
export type OutboundAccountPosition = z.infer<typeof OutboundAccountPositionSchema> & ExtraFields;
/** A validated `balanceUpdate` payload. */
export type BalanceUpdate = z.infer<typeof BalanceUpdateSchema> & ExtraFields;
/** A validated `executionReport` payload. */
export type ExecutionReport = z.infer<typeof ExecutionReportSchema> & ExtraFields;
/** A validated `listStatus` payload. */
export type ListStatus = z.infer<typeof ListStatusSchema> & ExtraFields;
/** A validated `listenKeyExpired` payload. */
export type ListenKeyExpired = z.infer<typeof ListenKeyExpiredSchema> & ExtraFields;

/**
 * One user-data event after parsing. Known types are validated; unknown types are passed
 * through untouched (`kind: "unknown"`), and a known type that fails validation is kept as
 * `kind: "invalid"` with the reason, so nothing the exchange sends is silently dropped.
 */
export type ParsedUserDataEvent =
  | { kind: "outboundAccountPosition"; eventTime: number; data: OutboundAccountPosition }
  | { kind: "balanceUpdate"; eventTime: number; data: BalanceUpdate }
  | { kind: "executionReport"; eventTime: number; data: ExecutionReport }
  | { kind: "listStatus"; eventTime: number; data: ListStatus }
  | { kind: "listenKeyExpired"; eventTime: number; data: ListenKeyExpired }
  | { kind: "unknown"; type: string; eventTime: number | undefined; data: Record<string, unknown> }
  | {
      kind: "invalid";
      type: string;
      eventTime: number | undefined;
      reason: string;
      data: Record<string, unknown>;
    };

const SCHEMAS = {
  outboundAccountPosition: OutboundAccountPositionSchema,
  balanceUpdate: BalanceUpdateSchema,
  executionReport: ExecutionReportSchema,
  listStatus: ListStatusSchema,
  listenKeyExpired: ListenKeyExpiredSchema,
} as const;

type KnownType = keyof typeof SCHEMAS;

/** The known type named by `e`, or `undefined` (own names only: `"toString"` is unknown). */
function knownType(type: string): KnownType | undefined {
  switch (type) {
    case "executionReport":
    case "outboundAccountPosition":
    case "balanceUpdate":
    case "listStatus":
    case "listenKeyExpired":
      return type;
    default:
      return undefined;
  }
}

/**
 * The hand-written check equivalent to the type's schema (see `event-checks.ts`). A switch
 * rather than a table of functions: one call site per check, each inlinable.
 */
function passesCheck(type: KnownType, record: Record<string, unknown>): boolean {
  switch (type) {
    case "executionReport":
      return isExecutionReport(record);
    case "outboundAccountPosition":
      return isOutboundAccountPosition(record);
    case "balanceUpdate":
      return isBalanceUpdate(record);
    case "listStatus":
      return isListStatus(record);
    case "listenKeyExpired":
      return isListenKeyExpired(record);
  }
}

const DIGITS = /^\d+$/;

function looseEventTime(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && DIGITS.test(value)) return Number(value);
  return undefined;
}

/**
 * The event inside a combined-stream envelope (`{"stream": "...", "data": {...}}`), or
 * the payload itself when it is not one (an event has `e`, an envelope does not).
 */
export function unwrapStreamEnvelope(payload: unknown): unknown {
  if (
    typeof payload === "object" &&
    payload !== null &&
    !("e" in payload) &&
    "data" in payload &&
    "stream" in payload
  ) {
    return (payload as { data: unknown }).data;
  }
  return payload;
}

/**
 * Validates an already-decoded payload. Combined-stream envelopes
 * (`{"stream": "...", "data": {...}}`) are unwrapped. Returns `undefined` only for
 * payloads that are not objects with a string `e` (those are not events at all).
 *
 * @example
 * ```ts
 * const ev = parseUserDataPayload({ e: "balanceUpdate", E: 1, a: "BTC", d: "0.1", T: 1 });
 * if (ev?.kind === "balanceUpdate") console.log(ev.data.d); // "0.1"
 * ```
 */
export function parseUserDataPayload(payload: unknown): ParsedUserDataEvent | undefined {
  const value = unwrapStreamEnvelope(payload);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const type = record.e;
  if (typeof type !== "string") return undefined;
  const known = knownType(type);
  if (known === undefined) {
    return { kind: "unknown", type, eventTime: looseEventTime(record.E), data: record };
  }
  const normalised =
    typeof record.E === "string" && DIGITS.test(record.E)
      ? { ...record, E: Number(record.E) }
      : record;
  // Every validated field is a plain value (no transforms or defaults), so the input object
  // equals zod's output plus the fields zod would strip: a passing check hands it out as is.
  if (passesCheck(known, normalised)) {
    return { kind: known, eventTime: normalised.E, data: normalised } as ParsedUserDataEvent;
  }
  return validateWithSchema(known, record, normalised);
}

/**
 * The slow path, taken when the fast check refused the event: the zod schema decides again
 * and, as expected, names every failing path in `reason`.
 */
function validateWithSchema(
  type: KnownType,
  record: Record<string, unknown>,
  normalised: Record<string, unknown>,
): ParsedUserDataEvent {
  const parsed = SCHEMAS[type].safeParse(normalised);
  if (!parsed.success) {
    return {
      kind: "invalid",
      type,
      eventTime: looseEventTime(record.E),
      reason: parsed.error.issues
        .map((i) => `${i.path.join(".") || "(event)"}: ${i.message}`)
        .join("; "),
      data: record,
    };
  }
  // Reached only if the check were stricter than the schema (the property test rules that
  // out); the schema's verdict stands.
  return { kind: type, eventTime: parsed.data.E, data: normalised } as ParsedUserDataEvent;
}

/**
 * Decodes and validates one WebSocket text frame. Non-JSON frames yield `undefined`.
 *
 * @example
 * ```ts
 * parseUserDataMessage('{"e":"listenKeyExpired","E":"1699596037418"}')?.eventTime; // 1699596037418
 * ```
 */
export function parseUserDataMessage(text: string): ParsedUserDataEvent | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return undefined;
  }
  return parseUserDataPayload(payload);
}

/** The event's wire type `e`: the kind for known events, the sent `e` for the others. */
export function userDataEventType(event: ParsedUserDataEvent): string {
  return event.kind === "unknown" || event.kind === "invalid" ? event.type : event.kind;
}

/**
 * Identity of an event for de-duplication when two sockets overlap (rotation): the type,
 * the event time and the ids that make two events of that type different.
 */
export function userDataEventIdentity(event: ParsedUserDataEvent): string {
  const d = event.data as Record<string, unknown>;
  const base = `${userDataEventType(event)}|${event.eventTime}`;
  switch (event.kind) {
    case "executionReport":
      return `${base}|${d.s}|${d.i}|${d.x}|${d.X}|${d.t}|${d.z}|${d.c}`;
    case "outboundAccountPosition":
      return `${base}|${d.u}|${JSON.stringify(d.B)}`;
    case "balanceUpdate":
      return `${base}|${d.a}|${d.d}|${d.T}`;
    case "listStatus":
      return `${base}|${d.g}|${d.L}|${d.l}|${d.T}`;
    case "listenKeyExpired":
      return `${base}|${d.listenKey}`;
    default:
      return `${base}|${JSON.stringify(d)}`;
  }
}
