package portcullis.gateway

# Surfaces that name no model (listing models, MCP calls) are not checked against model globs.
model_free_surfaces := {"openai.models", "mcp.tools_list", "mcp.tools_call"}

# MCP calls reach MCP servers, not model providers: the tool scope governs them, not `providers`.
mcp_surfaces := {"mcp.tools_list", "mcp.tools_call"}

denials contains {
	"priority": 20,
	"status": 403,
	"code": "provider_not_allowed",
	"message": sprintf(
		"Key %s may not use provider %s. Allowed providers: %s.",
		[input.key.id, input.provider, concat(", ", input.key.providers)],
	),
} if {
	input.key
	not input.surface in mcp_surfaces
	not input.route
	count(input.key.providers) > 0
	not input.provider in input.key.providers
}

denials contains {
	"priority": 21,
	"status": 404,
	"code": "model_not_found",
	"message": sprintf("Model %s is not offered by provider %s through this gateway.", [input.model, input.provider]),
} if {
	model_named
	not input.pricedModel
}

denials contains {
	"priority": 22,
	"status": 403,
	"code": "model_not_allowed",
	"message": sprintf(
		"Key %s (team %s) may not use model %s. Allowed models: %s.",
		[input.key.id, input.key.team, input.model, concat(", ", input.key.models)],
	),
} if {
	input.key
	model_named
	not input.route
	not refused_person
	not model_allowed
}

# A call on a surface that names a model, and names one. A request without a model is refused by the
# gateway itself (no provider serves it), in words that say so.
model_named if {
	not input.surface in model_free_surfaces
	input.model != ""
}

# Exact names and `prefix*` patterns, the common cases, avoid compiling a glob per call; `else`
# stops at the first way that allows the model (the compiled policy evaluates every plain body).
model_allowed if {
	input.model in input.key.models
} else if {
	some pattern in input.key.models
	endswith(pattern, "*")
	startswith(input.model, trim_suffix(pattern, "*"))
	prefix_glob(pattern)
} else if {
	some pattern in input.key.models
	is_glob(pattern)
	not prefix_glob(pattern)
	glob.match(pattern, [], input.model)
}

prefix_glob(p) if {
	endswith(p, "*")
	not is_glob(trim_suffix(p, "*"))
}
