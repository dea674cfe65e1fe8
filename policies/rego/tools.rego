package portcullis.gateway

scope := data.portcullis.toolScopes[input.key.toolScope]

# Agent-native tools the key's scope denies are stripped from the request, not refused.
default strip_tools := []

strip_tools := stripped if {
	scope.agentTools

	# Split once per decision: plain names are set lookups, only real patterns pay for glob matching.
	deny := split_patterns(object.get(scope.agentTools, "deny", []))
	allow_list := object.get(scope.agentTools, "allow", null)
	allow := split_patterns(object.get(scope.agentTools, "allow", []))
	stripped := sort({t |
		some t in input.tools
		not tool_permitted(t, deny, allow_list, allow)
	})
}

tool_permitted(t, deny, allow_list, allow) if {
	not deny.names[t]
	not matches_any(deny.globs, t)
	allow_permits(t, allow_list, allow)
}

allow_permits(_, null, _)

allow_permits(t, _, allow) if allow.names[t]

allow_permits(t, _, allow) if matches_any(allow.globs, t)

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
