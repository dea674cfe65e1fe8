package portcullis.gateway_test

# Claude Code's default model asked for by an app-dev key, served by a route.
routed := object.union(object.remove(base, ["key"]), {
	"key": object.union(base.key, {"models": ["claude-sonnet-4-5*", "gpt-5-mini"]}),
	"model": "claude-sonnet-4-5",
	"pricedModel": "claude-sonnet-4-5",
	"route": {
		"name": "app-dev-defaults",
		"requestedModel": "claude-opus-4-8",
		"first": 0,
		"maxAttempts": 3,
		"targets": [
			{
				"provider": "anthropic", "model": "claude-sonnet-4-5", "api": "anthropic",
				"surface": "anthropic.messages", "role": "target", "weight": 1, "translated": false,
				"circuit": "closed",
			},
			{
				"provider": "openai", "model": "gpt-5-mini", "api": "openai", "surface": "openai.chat",
				"role": "fallback", "weight": 1, "translated": true, "circuit": "closed",
			},
		],
	},
})

with_targets(targets) := object.union(object.remove(routed, ["route"]), {"route": object.union(
	routed.route,
	{"targets": targets},
)})

test_alias_serves_a_model_the_key_may_not_ask_for_by_name if {
	d := decide(routed)
	d.allow
	d.routeTargets == [0, 1]
}

test_target_outside_the_key_models_is_skipped if {
	t := routed.route.targets
	d := decide(with_targets([t[0], object.union(t[1], {"model": "gpt-5"})]))
	d.allow
	d.routeTargets == [0]
}

test_target_outside_the_key_providers_is_skipped if {
	k := object.union(routed.key, {"providers": ["openai"]})
	d := decide(object.union(object.remove(routed, ["key"]), {"key": k}))
	d.allow
	d.routeTargets == [1]
}

test_no_allowed_target_is_refused_naming_the_route if {
	t := routed.route.targets
	d := decide(with_targets([object.union(t[0], {"model": "claude-opus-4-8"})]))
	not d.allow
	d.status == 403
	d.code == "route_not_allowed"
	contains(d.reasons[0], "app-dev-defaults")
	contains(d.reasons[0], "anthropic/claude-opus-4-8")
}

test_translation_forbidden_label_keeps_the_call_in_its_own_format if {
	k := object.union(routed.key, {"labels": {"translation": "forbidden"}})
	d := decide(object.union(object.remove(routed, ["key"]), {"key": k}))
	d.allow
	d.routeTargets == [0]
}

test_every_circuit_open_is_a_503_with_retry_after if {
	t := routed.route.targets
	d := decide(with_targets([
		object.union(t[0], {"circuit": "open"}),
		object.union(t[1], {"circuit": "open"}),
	]))
	not d.allow
	d.status == 503
	d.code == "route_unavailable"
	d.retryAfterSeconds == 30
}

test_unrouted_call_has_no_route_targets if {
	d := decide(base)
	d.routeTargets == []
}

test_unrouted_call_still_checks_the_model if {
	d := decide(object.union(base, {"model": "claude-opus-4-8", "pricedModel": "claude-opus-4-8"}))
	not d.allow
	d.code == "model_not_allowed"
}

test_prefix_globs_match_dotted_model_names if {
	k := object.union(routed.key, {"models": ["gemini-*", "gpt-5*"]})
	t := routed.route.targets
	d := decide(object.union(object.remove(with_targets([object.union(t[0], {"model": "gemini-2.5-pro"})]), ["key"]), {"key": k}))
	d.allow
	d.routeTargets == [0]
}
