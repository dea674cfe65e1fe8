package portcullis.gateway

scope := data.portcullis.toolScopes[input.key.toolScope]

# Agent-native tools the key's scope denies are stripped from the request, not refused.
strip_tools := sort({t |
	some t in input.tools
	not agent_tool_allowed(t)
})

agent_tool_allowed(_) if {
	not scope.agentTools
}

agent_tool_allowed(t) if {
	not matches_any(object.get(scope.agentTools, "deny", []), t)
	allowed_by_allow_list(object.get(scope.agentTools, "allow", null), t)
}

allowed_by_allow_list(null, _)

allowed_by_allow_list(allow, t) if matches_any(allow, t)

# MCP tools are default-deny under a scope: some allow glob must match and no deny glob may.
mcp_tool_allowed(server, tool) if {
	name := sprintf("%s/%s", [server, tool])
	matches_any(object.get(scope, ["mcp", "allow"], []), name)
	not matches_any(object.get(scope, ["mcp", "deny"], []), name)
}

mcp_tool_allowed(_, _) if not input.key.toolScope

matches_any(patterns, value) if {
	some p in patterns
	glob.match(p, [], value)
}

denials contains {
	"priority": 25,
	"status": 403,
	"code": "tool_not_allowed",
	"message": sprintf("Key %s may not call MCP tool %s/%s (tool scope %s).", [input.key.id, input.mcp.server, input.mcp.tool, input.key.toolScope]),
} if {
	input.surface == "mcp.tools_call"
	not mcp_tool_allowed(input.mcp.server, input.mcp.tool)
}
