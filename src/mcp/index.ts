export { authenticateMcpKey, type McpAuthenticate, type McpAuthResult, presentedMcpKey } from './auth.ts';
export {
  createMcpGateway,
  type McpAuditEvent,
  type McpGateway,
  type McpGatewayOptions,
  type McpGuard,
  type McpGuardContext,
  type McpGuardStage,
  type McpMeter,
  type McpOutcome,
} from './gateway.ts';
export { gatewayToolName, splitGatewayToolName, TOOL_SEPARATOR } from './names.ts';
export type { UpstreamOptions } from './upstream.ts';
