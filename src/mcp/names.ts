// Gateway tool names: `<server>__<tool>`. Server ids may themselves contain `__`, so a name is split
// at the longest server id it starts with, not at the first separator.

export const TOOL_SEPARATOR = '__';

export function gatewayToolName(server: string, tool: string): string {
  return `${server}${TOOL_SEPARATOR}${tool}`;
}

export function splitGatewayToolName(
  name: string,
  servers: Iterable<string>,
): { server: string; tool: string } | undefined {
  let best: string | undefined;
  for (const s of servers) {
    const prefix = s + TOOL_SEPARATOR;
    if (
      name.startsWith(prefix) &&
      name.length > prefix.length &&
      (best === undefined || s.length > best.length)
    ) {
      best = s;
    }
  }
  return best === undefined
    ? undefined
    : { server: best, tool: name.slice(best.length + TOOL_SEPARATOR.length) };
}
