/** One step of an explanation: what the matching path checked and what it found. */
export interface TraceStep {
  /** What was checked: `hide`, `exact`, `glob`, `default`, `require`, `deny_if`, `arguments`, `action`, `limit`, `mode`. */
  readonly step: string;
  /** Policy path of the entry checked. */
  readonly ruleId: string;
  /** `matched`, `no_match`, `passed`, `failed`, `skipped` or `needs` (for limits). */
  readonly result: string;
  readonly detail: string;
}
