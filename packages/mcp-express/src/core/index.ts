/**
 * `@toolgate/mcp-express/core`: the framework-free tool-call pipeline on its own, for
 * code that enforces policy without this package's HTTP front (e.g. `@toolgate/mcp-guard`
 * inside an SDK server). Nothing reachable from here imports Express, `http` or the MCP
 * SDK at run time.
 *
 * @example
 * import { toolCall, Telemetry } from "@toolgate/mcp-express/core";
 * const answer = await toolCall({ ...deps, telemetry: Telemetry.create(undefined) }, call);
 */
export { argumentsDigest } from "../digest.js";
export type { Decision, Identity } from "../engine.js";
export { McpErrorCode, ToolgateMcpError } from "../errors.js";
export type { RpcId, RpcMessage } from "../jsonrpc.js";
export type {
  ApprovalOutcome,
  ApprovalRequest,
  DecisionEvent,
  ElicitAnswer,
  ElicitSchema,
  Logger,
  Scheduler,
} from "../options.js";
export type { PinEvent, PinStore, PinSubject } from "../pins.js";
export { createMemoryPinStore, PinGuard } from "../pins.js";
export { Telemetry } from "../telemetry.js";
export type { PinCheck, PinFacts } from "./pin-call.js";
export type { ResultFacts } from "./result-policy.js";
export { ResultScreen } from "./result-policy.js";
export { deniedResult } from "./results.js";
export type { ForwardRequest, ToolCall, ToolCallDeps, ToolTarget } from "./tool-call.js";
export { toolCall } from "./tool-call.js";
export type { ArgumentCheck } from "./validate.js";
