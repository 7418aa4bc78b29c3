// Hand-written checks that accept exactly what the zod schemas in `events.ts` accept, so the
// hot path can validate an event with straight-line property reads instead of zod's generic
// machinery (an issue array and a result object per field, a fresh output object per event).
// They only decide yes or no: when one says no, the parser runs the zod schema, which
// produces the issues naming each failing path. A property test holds the two to the same
// verdict on valid, mutated and arbitrary payloads.
//
// Mirrored zod rules (zod 4): `z.number()` accepts finite numbers only (no NaN, no
// Infinity); `z.string()`/`z.boolean()` check `typeof`; `.optional()` accepts `undefined`,
// absent or present; `.nullable()` accepts `null`; `z.object()` accepts any non-null,
// non-array object and reads fields through the prototype chain, as property reads here do.

import type {
  BalanceUpdate,
  ExecutionReport,
  ListenKeyExpired,
  ListStatus,
  OutboundAccountPosition,
} from "./events.js";

/** A decoded JSON object whose fields are about to be checked. */
type Fields = Record<string, unknown>;

// Small enough that the optimising compiler inlines them into the checks below.
function num(v: unknown): boolean {
  // Number.isFinite is false for non-numbers and NaN, exactly zod 4's z.number().
  return Number.isFinite(v);
}

function str(v: unknown): boolean {
  return typeof v === "string";
}

function optNum(v: unknown): boolean {
  return v === undefined || Number.isFinite(v);
}

function optStr(v: unknown): boolean {
  return v === undefined || typeof v === "string";
}

function optBool(v: unknown): boolean {
  return v === undefined || typeof v === "boolean";
}

function optNullStr(v: unknown): boolean {
  return v === undefined || v === null || typeof v === "string";
}

function isObject(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The fields every `executionReport` carries (the schema's non-optional ones). */
function executionReportRequired(r: Fields): boolean {
  return (
    r.e === "executionReport" &&
    num(r.E) &&
    str(r.s) &&
    str(r.c) &&
    str(r.S) &&
    str(r.o) &&
    str(r.f) &&
    str(r.q) &&
    str(r.p) &&
    str(r.x) &&
    str(r.X) &&
    num(r.i) &&
    str(r.l) &&
    str(r.z) &&
    str(r.L) &&
    num(r.T) &&
    num(r.t)
  );
}

/** The conditional fields of an `executionReport`: each may be absent. */
function executionReportOptional(r: Fields): boolean {
  return (
    optStr(r.P) &&
    optStr(r.F) &&
    optNum(r.g) &&
    optStr(r.C) &&
    optStr(r.r) &&
    optNullStr(r.n) &&
    optNullStr(r.N) &&
    optBool(r.w) &&
    optBool(r.m) &&
    optNum(r.O) &&
    optStr(r.Z) &&
    optStr(r.Y) &&
    optStr(r.Q) &&
    optNum(r.W) &&
    optStr(r.V) &&
    optNum(r.d) &&
    optNum(r.D) &&
    optNum(r.v) &&
    optStr(r.A) &&
    optStr(r.B) &&
    optNum(r.u) &&
    optNum(r.U)
  );
}

/** Whether `r` passes `ExecutionReportSchema`. */
export function isExecutionReport(r: Fields): r is ExecutionReport {
  return executionReportRequired(r) && executionReportOptional(r);
}

/** Whether `r` passes `OutboundAccountPositionSchema`. */
export function isOutboundAccountPosition(r: Fields): r is OutboundAccountPosition {
  if (!(r.e === "outboundAccountPosition" && num(r.E) && num(r.u))) return false;
  const balances = r.B;
  if (!Array.isArray(balances)) return false;
  for (let k = 0; k < balances.length; k++) {
    const b: unknown = balances[k];
    if (!(isObject(b) && str(b.a) && str(b.f) && str(b.l))) return false;
  }
  return true;
}

/** Whether `r` passes `BalanceUpdateSchema`. */
export function isBalanceUpdate(r: Fields): r is BalanceUpdate {
  return r.e === "balanceUpdate" && num(r.E) && str(r.a) && str(r.d) && num(r.T);
}

/** Whether `r` passes `ListStatusSchema`. */
export function isListStatus(r: Fields): r is ListStatus {
  if (
    !(
      r.e === "listStatus" &&
      num(r.E) &&
      str(r.s) &&
      num(r.g) &&
      str(r.c) &&
      str(r.l) &&
      str(r.L) &&
      str(r.r) &&
      str(r.C) &&
      num(r.T)
    )
  ) {
    return false;
  }
  const orders = r.O;
  if (!Array.isArray(orders)) return false;
  for (let k = 0; k < orders.length; k++) {
    const o: unknown = orders[k];
    if (!(isObject(o) && str(o.s) && num(o.i) && str(o.c))) return false;
  }
  return true;
}

/** Whether `r` passes `ListenKeyExpiredSchema`. */
export function isListenKeyExpired(r: Fields): r is ListenKeyExpired {
  return r.e === "listenKeyExpired" && num(r.E) && optStr(r.listenKey);
}
