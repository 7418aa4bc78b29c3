/**
 * The tool risk classifier: one pure function that judges an MCP tool definition by its
 * name, description, input and output schemas and annotations. `toolgate scan` writes its
 * verdicts into the starter policy and the policy studio shows them next to every tool,
 * so both always agree.
 *
 * Annotations are the upstream's claim about its own tool. A claim that makes a tool
 * look *more* dangerous (`destructiveHint: true`) is believed: being wrong costs an
 * approval click. A claim that makes it look *safer* (`readOnlyHint: true`,
 * `destructiveHint: false`) is believed only when nothing in the name, description or
 * schema says otherwise; when something does, the claim is reported as contradicted.
 *
 * By job: the vocabulary (words.ts), what a definition says (signals.ts), the category
 * rules (categories.ts) and the weighing of annotation claims (claims.ts).
 */

import { judge } from "./categories.js";
import { weighClaims } from "./claims.js";
import { readSignals } from "./signals.js";

export { words } from "./words.js";

/** What kind of thing a tool does. */
export type RiskCategory = "read" | "write" | "execute" | "money" | "destructive" | "other";
/** How much harm a misused call can do. */
export type RiskLevel = "high" | "medium" | "low";

/** The parts of an MCP tool definition the classifier reads (a `tools/list` entry fits). */
export interface ToolDefinition {
  readonly name: string;
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly inputSchema?: unknown;
  readonly outputSchema?: unknown;
  readonly annotations?:
    | {
        readonly title?: string | undefined;
        readonly readOnlyHint?: boolean | undefined;
        readonly destructiveHint?: boolean | undefined;
        readonly idempotentHint?: boolean | undefined;
        readonly openWorldHint?: boolean | undefined;
      }
    | undefined;
}

/** Where a reason came from. */
export type RiskSignal = "name" | "description" | "schema" | "output" | "annotations";

/** One piece of evidence, worded for a person reviewing the tool. */
export interface RiskReason {
  readonly signal: RiskSignal;
  readonly text: string;
}

/** The classifier's judgement of one tool. */
export interface RiskAssessment {
  readonly tool: string;
  readonly category: RiskCategory;
  readonly risk: RiskLevel;
  /** The evidence, strongest first. Never empty. */
  readonly reasons: readonly RiskReason[];
  /** Annotation claims the definition itself contradicts, e.g. `readOnlyHint: true`. */
  readonly contradicted: readonly string[];
  /** Argument names that carry money, destinations, files, code or queries. */
  readonly sensitiveArguments: readonly SensitiveArgument[];
}

/** An input argument whose name (or format) says what it carries. */
export interface SensitiveArgument {
  /** Argument path as policy conditions write it, e.g. `args.amount`. */
  readonly path: string;
  readonly kind: "money" | "destination" | "file" | "code" | "query" | "url" | "secret";
}

/**
 * Judges one tool definition. Pure and synchronous: the same definition always gets the
 * same assessment.
 *
 * @example
 * classifyToolRisk({ name: "delete_file", inputSchema: { properties: { path: {} } } })
 * // { category: "destructive", risk: "high", reasons: [{ signal: "name", text: 'name says "delete"' }, ...] }
 */
export function classifyToolRisk(tool: ToolDefinition): RiskAssessment {
  const s = readSignals(tool);
  const reasons: RiskReason[] = [];
  const { category, risk } = judge(s, (signal, text) => reasons.push({ signal, text }));
  const contradicted = weighClaims(s, category, risk, reasons);
  return {
    tool: tool.name,
    category,
    risk,
    reasons,
    contradicted,
    sensitiveArguments: s.sensitive,
  };
}
