# Routes. A call that a Route serves (input.route) may go to any of the route's targets and fallbacks.
# The key's providers and model globs apply to each of them, not to the model the client asked
# for: that is what lets an agent's default model be served by a model the key may use.
package portcullis.gateway

# Indices of the route targets this call may use; the gateway tries only these.
route_targets contains i if {
	some i, t in input.route.targets
	key_allows_target(t)
	translation_allows(t)
}

key_allows_target(_) if not input.key

key_allows_target(t) if {
	input.key
	key_allows_provider(t.provider)
	key_allows_model(t.model)
}

key_allows_provider(_) if count(input.key.providers) == 0

key_allows_provider(p) if p in input.key.providers

# As access.rego reads the key's models: exact names, `prefix*`, and other globs.
key_allows_model(m) if m in input.key.models

key_allows_model(m) if {
	some pattern in input.key.models
	endswith(pattern, "*")
	startswith(m, trim_suffix(pattern, "*"))
	prefix_glob(pattern)
}

key_allows_model(m) if {
	some pattern in input.key.models
	is_glob(pattern)
	not prefix_glob(pattern)
	glob.match(pattern, [], m)
}

# A key labelled `translation: forbidden` only uses targets that speak its client's own format.
translation_allows(t) if not t.translated

translation_allows(t) if {
	t.translated
	not input.key.labels.translation == "forbidden"
}

denials contains {
	"priority": 22,
	"status": 403,
	"code": "route_not_allowed",
	"message": sprintf(
		"Key %s may not use any model that route %s serves %s with (%s).",
		[input.key.id, input.route.name, input.route.requestedModel, concat(", ", route_target_names)],
	),
} if {
	input.route
	input.key
	count(route_targets) == 0
}

denials contains {
	"priority": 30,
	"status": 503,
	"code": "route_unavailable",
	"message": sprintf(
		"Every target of route %s is failing and paused (circuit open); retry shortly.",
		[input.route.name],
	),
	"retryAfterSeconds": 30,
} if {
	input.route
	count(route_targets) > 0
	every i in route_targets {
		input.route.targets[i].circuit == "open"
	}
}

route_target_names contains sprintf("%s/%s", [t.provider, t.model]) if some t in input.route.targets
