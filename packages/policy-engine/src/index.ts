/**
 * @toolgate/policy-engine: the Toolgate policy language v1, compiled once and decided
 * in microseconds. Framework-free: no HTTP, no MCP transport, time and stores injected.
 */

export type {
  CompiledLimit,
  CompiledRule,
  CompilePolicyOptions,
  StaticOutcome,
  ToolPlan,
} from "./compile.js";
export { CompiledPolicy, compilePolicy, policyVersion } from "./compile.js";
export type {
  CounterReservation,
  CounterSpec,
  CounterState,
  CounterStore,
  Decision,
  Effect,
  Identity,
  Reservation,
  ReserveOutcome,
  StoreDegradation,
  StoreHealth,
  ToolCall,
} from "./contracts.js";
export { DecisionCode } from "./contracts.js";
export type {
  Explanation,
  Outcome,
  PolicyEngine,
  PolicyEngineOptions,
  TraceStep,
  Verdict,
} from "./engine.js";
export { createPolicyEngine } from "./engine.js";
export type { PolicyIssue } from "./errors.js";
export { PolicyError, PolicyErrorCode, ToolgateError } from "./errors.js";
export type { PolicyListener, ReloadResult } from "./holder.js";
export { PolicyHolder } from "./holder.js";
export type { InProcessCounterStoreOptions } from "./in-process-store.js";
export { createInProcessCounterStore } from "./in-process-store.js";
export type {
  PolicyTestCase,
  PolicyTestCaseResult,
  PolicyTestExpect,
  PolicyTestReport,
  PolicyTestSuite,
  RunPolicyTestsOptions,
} from "./policy-tests.js";
export {
  formatPolicyTestReport,
  loadPolicyTestSuite,
  PolicyTestCaseSchema,
  PolicyTestSuiteSchema,
  parsePolicyTestSuite,
  runPolicyTests,
} from "./policy-tests.js";
export type {
  ConditionOp,
  ParsePolicyTextOptions,
  PolicyCondition,
  PolicyDocument,
  PolicyLimit,
  ToolRule,
} from "./schema.js";
export {
  CONDITION_OPS,
  ConditionSchema,
  LimitSchema,
  loadPolicyFile,
  mergePolicies,
  PolicySchema,
  parsePolicy,
  parsePolicyText,
  policyIssues,
  policyJsonSchema,
  ToolRuleSchema,
} from "./schema.js";
export { parseWindow } from "./syntax.js";
