export {
  createMcpGateway,
  type McpAuditEvent,
  type McpGateway,
  type McpGatewayOptions,
  type McpGuard,
  type McpGuardContext,
  type McpGuardStage,
  type McpOutcome,
} from './gateway.ts';
export { gatewayToolName, splitGatewayToolName, TOOL_SEPARATOR } from './names.ts';
export type { UpstreamOptions } from './upstream.ts';
