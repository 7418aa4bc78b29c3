/**
 * @toolgate/mcp-express: Express middleware that speaks MCP Streamable HTTP, proxies
 * upstream MCP servers (HTTP, stdio, in-process) and enforces Toolgate policy on every
 * tool call, transparently for everything else.
 */

export type { McpRequestHandler } from "./adapters/express.js";
export type { McpRequestListener } from "./adapters/node.js";
export type { AuthOutcome } from "./auth/authenticate.js";
export type {
  OAuthOptions,
  OAuthVerifier,
  TokenRefusal,
  VerifiedToken,
  VerifyResult,
} from "./auth/oauth.js";
export {
  createOAuthVerifier,
  OAUTH_ALGORITHMS,
  OAUTH_TOKEN_TYPES,
  OAuthOptionsSchema,
} from "./auth/oauth.js";
export type { AuthThrottleOptions } from "./auth-throttle.js";
export { AuthThrottle } from "./auth-throttle.js";
export type { PinCheck, PinFacts } from "./core/pin-call.js";
export type { ResultFacts } from "./core/result-policy.js";
export { deniedResult } from "./core/results.js";
export { argumentsDigest, canonicalJson } from "./digest.js";
export type { McpErrorCodeName } from "./errors.js";
export { McpErrorCode, ToolgateMcpError } from "./errors.js";
export { hostAllowed, isOrigin, normalizeHost, ORIGIN_FIX } from "./http.js";
export type {
  OpenedState,
  RequestStateCodec,
  RequestStateCodecOptions,
  SealInput,
  StateBinding,
  StateRefusal,
} from "./modern/request-state.js";
export { createRequestStateCodec, spendOnce } from "./modern/request-state.js";
export type {
  ApprovalOutcome,
  ApprovalRequest,
  DecisionEvent,
  ElicitAnswer,
  ElicitSchema,
  EmbedUpstreamConfig,
  HeldOutcome,
  HttpUpstreamConfig,
  Logger,
  PolicySource,
  RefusedEvent,
  ResourceResultEvent,
  Scheduler,
  StdioUpstreamConfig,
  ToolgateMcpOptions,
  UpstreamConfig,
  UpstreamTimeout,
} from "./options.js";
export type { PinEvent, PinStore, PinSubject } from "./pins.js";
export { createMemoryPinStore } from "./pins.js";
export { formatTraceparent, parseTraceparent, TRACER_NAME } from "./telemetry.js";
export type { ToolgateMcp } from "./toolgate-mcp.js";
export { createToolgateMcp } from "./toolgate-mcp.js";
export type { UpstreamIdentity } from "./transports/header-template.js";
export { checkHeaderTemplates, renderHeaders } from "./transports/header-template.js";
export type { ResolvedUpstreamConfig } from "./transports/registry.js";
export { resolveUpstream, UPSTREAM_KINDS, upstreamKind } from "./transports/registry.js";
