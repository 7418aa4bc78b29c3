/**
 * @toolgate/policy-engine: the Toolgate policy language v1, compiled once and decided
 * in microseconds. Framework-free: no HTTP, no MCP transport, time and stores injected.
 */

export type {
  ApprovalRequirement,
  ApprovalRuleText,
  CompiledApprovalRule,
} from "./approval-rule.js";
export { compileApprovalRules, pickApprovalRule } from "./approval-rule.js";
export type {
  CompiledRule,
  CompilePolicyOptions,
  GuardrailsView,
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
  LimitAlgorithm,
  PeekSpec,
  Reservation,
  ReserveOutcome,
  StoreDegradation,
  StoreHealth,
  ToolCall,
} from "./contracts.js";
export { DecisionCode } from "./contracts.js";
export type { PolicyEngine, PolicyEngineOptions } from "./engine.js";
export { createPolicyEngine, PolicyEngineOptionsSchema } from "./engine.js";
export type { PolicyIssue } from "./errors.js";
export {
  asToolgateError,
  JsonRpcErrorCode,
  PolicyError,
  PolicyErrorCode,
  ToolgateError,
} from "./errors.js";
export type { Explanation, Outcome, Verdict } from "./evaluate.js";
export type {
  DefinitionChange,
  PinMismatchAction,
  PinSettings,
  PinVerdict,
  ToolDefinition,
} from "./guardrails/definition.js";
export {
  canonicalToolDefinition,
  checkPin,
  diffToolDefinitions,
  PIN_MISMATCH_REASON,
  PINNED_FIELDS,
  toolDigest,
} from "./guardrails/definition.js";
export type { DetectorName } from "./guardrails/detectors.js";
export { DETECTORS, findSecrets, luhnValid } from "./guardrails/detectors.js";
export { compileResultPolicy } from "./guardrails/policy.js";
export type {
  CompiledRedaction,
  CompiledResultPolicy,
  PathStep,
  ResultGuardOutcome,
} from "./guardrails/result-guard.js";
export { guardResult, guardText, parseJsonPath } from "./guardrails/result-guard.js";
export type { PolicyListener, ReloadResult } from "./holder.js";
export { PolicyHolder } from "./holder.js";
export type { CompiledLimit, LimitCounterView } from "./limits.js";
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
export type { ParsePolicyTextOptions } from "./policy-text.js";
export { loadPolicyFile, mergePolicies, parsePolicyText } from "./policy-text.js";
export type {
  ConditionOp,
  PolicyCondition,
  PolicyDocument,
  PolicyLimit,
  PolicyResults,
  ToolRule,
} from "./schema.js";
export {
  CONDITION_OPS,
  ConditionSchema,
  LimitSchema,
  PolicySchema,
  parsePolicy,
  policyIssues,
  policyJsonSchema,
  ToolRuleSchema,
} from "./schema.js";
export { canonicalJson } from "./seams/canonical-json.js";
export type { Clock, Scheduler } from "./seams/clock.js";
export {
  clockSchema,
  fnSchema,
  realScheduler,
  schedulerSchema,
  systemClock,
} from "./seams/clock.js";
export type { Logger } from "./seams/logger.js";
export { silentLogger } from "./seams/logger.js";
export { parseOptions, zodIssueLines } from "./seams/options.js";
export { sha256Hex } from "./seams/sha256.js";
export type { InProcessCounterStoreOptions, MemoryStoreOptions } from "./store/memory-store.js";
export {
  createInProcessCounterStore,
  createMemoryStore,
  MemoryStoreOptionsSchema,
} from "./store/memory-store.js";
export type { Bucket, LogEntry, SlidingLog } from "./store/smooth.js";
export {
  bucketSize,
  bucketToken,
  bucketUsed,
  isFixed,
  MAX_LOG_ENTRIES,
  parseBucketToken,
} from "./store/smooth.js";
export { counterState, invalidSpec, storeClosedError } from "./store/specs.js";
export type { MeteredCounterStore, StoreStats } from "./store/stats.js";
export { addStats, Tally } from "./store/stats.js";
export { parseWindow } from "./syntax.js";
export type { TraceStep } from "./trace.js";
