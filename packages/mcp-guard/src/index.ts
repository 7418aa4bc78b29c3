/**
 * @toolgate/mcp-guard: Toolgate policy in place on an existing MCP SDK `McpServer`
 * (SDK 1.x and 2.x). No proxy and no second hop: the server keeps its own transport.
 */

export type {
  PinCheck,
  PinEvent,
  PinFacts,
  PinStore,
  ResultFacts,
} from "@toolgate/mcp-express/core";
export { createMemoryPinStore } from "@toolgate/mcp-express/core";
export { GuardError, GuardErrorCode } from "./errors.js";
export type { GuardOptions, GuardRequestContext, McpGuard, McpServerLike } from "./guard.js";
export { guardMcpServer } from "./guard.js";
export type {
  ApprovalOutcome,
  ApprovalRequest,
  CallOutcome,
  DecisionEvent,
  PipelineCall,
  PipelineDeps,
  PolicySource,
  Scheduler,
  ToolResultLike,
} from "./pipeline.js";
export { argumentsDigest, deniedResult, policyLookup } from "./pipeline.js";
export { runToolCall } from "./run.js";
