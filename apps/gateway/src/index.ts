/**
 * @toolgate/gateway: the Toolgate gateway — config, CLI, approvals page and API,
 * Prometheus metrics, audit log, approval webhooks and scale-out on Redis, composed from
 * the packages — and those pieces on their own, for people composing a gateway of their
 * own around `createToolgateMcp` (see the README's "Composing your own gateway").
 */

export type { AdminRouterOptions, CounterView } from "./admin.js";
export { createAdminRouter } from "./admin.js";
export { ADMIN_PAGE_HTML } from "./admin-page.js";
export type {
  ApproverOptions,
  HeldCall,
  HeldCallOutcome,
  Scheduler,
} from "./approvals/approver.js";
export {
  approvalHoldCeilingMs,
  createApprover,
  DEFAULT_APPROVAL_TIMEOUT_MS,
} from "./approvals/approver.js";
export type {
  ApprovalLifecycle,
  ApprovalLifecycleEvent,
  ApprovalLifecycleListener,
} from "./approvals/events.js";
export { createApprovalLifecycle } from "./approvals/events.js";
export type { RedisApprovalStoreOptions } from "./approvals/redis-store.js";
export { createRedisApprovalStore } from "./approvals/redis-store.js";
export { retryApprover, sweepExpired } from "./approvals/retry.js";
export type {
  ApprovalDecision,
  ApprovalEvent,
  ApprovalRecord,
  ApprovalResolution,
  ApprovalRule,
  ApprovalStatus,
  ApprovalStore,
  DecideResult,
  MemoryApprovalStoreOptions,
} from "./approvals/store.js";
export { createMemoryApprovalStore } from "./approvals/store.js";
export type { AuditEntry, AuditLogOptions, PolicyPublishedEntry } from "./audit.js";
export { AuditLog } from "./audit.js";
export type { ChainBreak, ChainHead, ChainReport } from "./audit-chain.js";
export {
  chainLine,
  EMPTY_CHAIN,
  GENESIS_HASH,
  readChainHead,
  verifyChain,
} from "./audit-chain.js";
export { binanceBuiltin } from "./builtins.js";
export type { CliIo } from "./cli.js";
export { registerCommand, runCli } from "./cli.js";
export type {
  GatewayConfig,
  GatewayConfigInput,
  LoadConfigOptions,
  LoadedConfig,
  ResolvedGrant,
  UpstreamEntry,
} from "./config.js";
export {
  DEFAULT_POLICY_PATH,
  GatewayConfigSchema,
  loadGatewayConfig,
  substituteEnv,
} from "./config.js";
export type { GatewayIssue } from "./errors.js";
export { formatIssues, GatewayError, GatewayErrorCode } from "./errors.js";
export type { FeedDecision, GrantTally } from "./feed.js";
export { DecisionFeed } from "./feed.js";
export type { SharedFeed, SharedFeedOptions } from "./feed-share.js";
export { shareFeedOverRedis } from "./feed-share.js";
export type {
  BuiltinFactory,
  BuiltinUpstream,
  GatewayOptions,
  RunningGateway,
} from "./gateway.js";
export { startGateway } from "./gateway.js";
export type { Logger, LoggerOptions } from "./logger.js";
export { createLogger, REDACT_PATHS } from "./logger.js";
export {
  canonicalJson,
  MASK,
  type MaskedArguments,
  maskForApprover,
  maskSecrets,
  SECRET_KEY_PATTERN,
  sha256Hex,
} from "./mask.js";
export type { GatewayMetrics, GatewayMetricsOptions } from "./metrics.js";
export { createGatewayMetrics, webhookMetricsSink } from "./metrics.js";
export type { DecisionObserver } from "./observers.js";
export { auditObserver, fanOut, feedObserver, metricsObserver } from "./observers.js";
export type {
  RiskAssessment,
  RiskCategory,
  RiskLevel,
  RiskReason,
  RiskSignal,
  SensitiveArgument,
  ToolDefinition,
} from "./risk/classify.js";
export { classifyToolRisk } from "./risk/classify.js";
export type { RecommendedVerdict, RiskRecommendation } from "./risk/recommend.js";
export { RECOMMENDED_LIMITS, recommendRule } from "./risk/recommend.js";
export type { ScannedTool, ScanTarget, ToolVerdict } from "./scan.js";
export { classifyTool, listUpstreamTools, starterPolicy } from "./scan.js";
export type { ServeDeps } from "./serve.js";
export { banner, curlExample, serveCommand } from "./serve.js";
export type { Studio, StudioOptions } from "./studio/index.js";
export { createStudio } from "./studio/index.js";
export type { Inventory, InventoryTool, ToolInventory } from "./studio/inventory.js";
export { createToolInventory } from "./studio/inventory.js";
export type { StudioGrant, StudioService, StudioServiceOptions } from "./studio/service.js";
export { createStudioService } from "./studio/service.js";
export type {
  ApprovalHookEvent,
  ApprovalWebhooks,
  ApprovalWebhooksOptions,
  DeliveryOutcome,
  GenericWebhookBody,
  SignatureCheck,
  WebhookApproval,
  WebhookConfig,
  WebhookDispatcher,
  WebhookDispatcherOptions,
  WebhookEventType,
  WebhookMetricsSink,
  WebhookPost,
} from "./webhooks/index.js";
export {
  createApprovalWebhooks,
  createWebhookDispatcher,
  DEFAULT_TOLERANCE_MS,
  reportApprovalEvents,
  resolutionEvent,
  SIGNATURE_HEADER,
  signWebhook,
  slackBody,
  verifyWebhookSignature,
  WEBHOOK_EVENTS,
  WebhookSchema,
  WebhooksSchema,
  webhookApproval,
} from "./webhooks/index.js";
