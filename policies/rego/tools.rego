package portcullis.gateway

scope := data.portcullis.toolScopes[input.key.toolScope]

# Agent-native tools the key's scope denies are stripped from the request, not refused.
default strip_tools := []

strip_tools := sort({t |
	some t in input.tools
	not tool_permitted(t, agent_patterns)
})

# The scope's agent-tool patterns split into plain names (set lookups) and real globs. The gateway
# splits them once per policy revision (data.portcullis.agentToolPatterns, src/policy/resolve.ts);
# they are split here when absent, as in unit tests that mock only toolScopes.
agent_patterns := data.portcullis.agentToolPatterns[input.key.toolScope]

agent_patterns := derived if {
	not data.portcullis.agentToolPatterns[input.key.toolScope]
	scope.agentTools
	derived := {
		"deny": split_patterns(object.get(scope.agentTools, "deny", [])),
		"allowList": object.get(scope.agentTools, "allow", null) != null,
		"allow": split_patterns(object.get(scope.agentTools, "allow", [])),
	}
}

tool_permitted(t, patterns) if {
	not patterns.deny.names[t]
	not matches_any(patterns.deny.globs, t)
	allow_permits(t, patterns)
}

allow_permits(_, patterns) if not patterns.allowList

allow_permits(t, patterns) if patterns.allow.names[t]

allow_permits(t, patterns) if matches_any(patterns.allow.globs, t)

split_patterns(patterns) := {
	"names": {p: true | some p in patterns; not is_glob(p)},
	"globs": [p | some p in patterns; is_glob(p)],
}

is_glob(p) if contains(p, "*")

is_glob(p) if contains(p, "?")

is_glob(p) if contains(p, "[")

is_glob(p) if contains(p, "{")

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
	"message": sprintf(
		"Key %s may not call MCP tool %s/%s (tool scope %s).",
		[input.key.id, input.mcp.server, input.mcp.tool, input.key.toolScope],
	),
} if {
	input.surface == "mcp.tools_call"
	not mcp_tool_allowed(input.mcp.server, input.mcp.tool)
}

# Fail closed: a key with a tool scope may not send tools the gateway could not read, since nothing
# checked them against the scope (input.unreadableTools names where they are).
denials contains {
	"priority": 26,
	"status": 403,
	"code": "tools_unreadable",
	"message": sprintf(
		concat(" ", [
			"Portcullis cannot read the tool declarations at %s, so it cannot apply tool scope %s to them;",
			"the request was refused. Update the agent or tell your platform team.",
		]),
		[concat(", ", [u.path | some u in input.unreadableTools]), input.key.toolScope],
	),
} if {
	input.key.toolScope
	count(object.get(input, "unreadableTools", [])) > 0
}
