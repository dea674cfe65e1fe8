package portcullis.gateway_test

import data.portcullis.gateway

tool_scopes := {"read-only": {
	"mcp": {"allow": ["*/get_*", "*/list_*"], "deny": ["*/delete_*"]},
	"agentTools": {"deny": ["Bash", "Write"]},
}}

base := {
	"surface": "anthropic.messages",
	"provider": "anthropic",
	"model": "claude-haiku-4-5-20251001",
	"pricedModel": "claude-haiku-4-5",
	"stream": true,
	"tools": ["Read", "Bash", "Grep"],
	"sizes": {"bodyBytes": 1000, "estimatedInputTokens": 250, "maxOutputTokens": 4096},
	"auth": {"status": "ok", "enforced": true},
	"key": {
		"id": "bob-dev", "owner": "bob@acme.example", "team": "app-dev", "teams": ["app-dev", "acme"],
		"providers": [], "models": ["claude-haiku-4-5*", "gpt-5-mini"], "toolScope": "read-only",
	},
	"usage": {"budgets": [], "rateLimits": []},
	"guardrails": {"findings": []},
}

# object.union merges nested objects, so replacing the key needs a remove first.
with_key(k) := object.union(object.remove(base, ["key"]), {"key": k})

decide(i) := d if {
	d := gateway.decision with input as i with data.portcullis.toolScopes as tool_scopes
}

test_allowed_call_strips_denied_agent_tools if {
	d := decide(base)
	d.allow
	d.status == 200
	d.code == "ok"
	d.stripTools == ["Bash"]
	d.reasons == []
}

test_no_scope_strips_nothing if {
	d := decide(with_key(object.remove(base.key, ["toolScope"])))
	d.allow
	d.stripTools == []
}

test_missing_key_refused_when_enforced if {
	d := decide(object.union(base, {"auth": {"status": "missing", "enforced": true}, "key": null}))
	not d.allow
	d.status == 401
	d.code == "key_missing"
}

test_missing_key_allowed_when_not_enforced if {
	i := object.remove(object.union(base, {"auth": {"status": "missing", "enforced": false}}), ["key"])
	d := decide(i)
	d.allow
}

test_bad_keys_always_refused if {
	every s in ["unknown", "expired", "disabled"] {
		d := decide(object.union(base, {"auth": {"status": s, "enforced": false}}))
		not d.allow
		d.status == 401
		d.code == sprintf("key_%s", [s])
	}
}

test_model_outside_globs_refused if {
	d := decide(object.union(base, {"model": "claude-opus-4-5", "pricedModel": "claude-opus-4-5"}))
	not d.allow
	d.status == 403
	d.code == "model_not_allowed"
	contains(d.reasons[0], "claude-opus-4-5")
}

test_unpriced_model_not_found if {
	d := decide(object.remove(base, ["pricedModel"]))
	d.status == 404
	d.code == "model_not_found"
}

test_model_list_needs_no_model if {
	i := object.remove(object.union(base, {"surface": "openai.models", "model": ""}), ["pricedModel"])
	decide(i).allow
}

test_provider_outside_list_refused if {
	d := decide(object.union(base, {"key": object.union(base.key, {"providers": ["openai"]})}))
	d.status == 403
	d.code == "provider_not_allowed"
}

test_budget_exhausted_is_402_with_reset if {
	budget := {
		"id": "team:app-dev:monthly", "scope": "team", "owner": "app-dev", "period": "monthly",
		"limitUsd": 100, "usedUsd": 99.5, "requestUsd": 0.75,
		"resetsAt": "2026-12-01T00:00:00-05:00", "resetsInSeconds": 3600,
	}
	d := decide(object.union(base, {"usage": {"budgets": [budget], "rateLimits": []}}))
	not d.allow
	d.status == 402
	d.code == "budget_exceeded"
	d.retryAfterSeconds == 3600
	contains(d.reasons[0], "monthly budget of team app-dev (100.00 USD)")
	contains(d.reasons[0], "2026-12-01T00:00:00-05:00")
}

test_soft_budget_over_its_amount_warns_and_allows if {
	budget := {
		"id": "team:app-dev:monthly", "scope": "team", "owner": "app-dev", "period": "monthly",
		"limitUsd": 10, "usedUsd": 9.9, "requestUsd": 0.5, "enforcement": "soft",
	}
	d := decide(object.union(base, {"usage": {"budgets": [budget], "rateLimits": []}}))
	d.allow
	count(d.warnings) == 1
	contains(d.warnings[0], "monthly budget of team app-dev (10.00 USD) is spent: 10.40 USD used")
}

test_model_budget_refusal_names_its_models_and_the_usage_command if {
	budget := {
		"id": "team:app-dev:opus", "scope": "team", "owner": "app-dev", "period": "monthly",
		"limitUsd": 200, "usedUsd": 199.99, "requestUsd": 0.02, "models": ["claude-opus-*"], "mode": "expected",
	}
	d := decide(object.union(base, {"usage": {"budgets": [budget], "rateLimits": []}}))
	d.status == 402
	contains(d.reasons[0], "monthly claude-opus-* budget of team app-dev (200.00 USD)")
	contains(d.reasons[0], "this call is expected to cost 0.02 USD")
	contains(d.reasons[0], "portcullis usage")
}

test_allowed_call_has_no_warnings if {
	decide(base).warnings == []
}

test_budget_with_room_allows if {
	budget := {"id": "k", "scope": "key", "owner": "bob-dev", "period": "total", "limitUsd": 100, "usedUsd": 99, "requestUsd": 1}
	decide(object.union(base, {"usage": {"budgets": [budget], "rateLimits": []}})).allow
}

test_rate_limit_is_429_with_retry_after if {
	limit := {
		"id": "key:bob-dev:rpm", "scope": "key", "owner": "bob-dev", "kind": "requests_per_minute",
		"limit": 60, "used": 60, "request": 1, "resetsInSeconds": 12,
	}
	d := decide(object.union(base, {"usage": {"budgets": [], "rateLimits": [limit]}}))
	d.status == 429
	d.retryAfterSeconds == 12
	contains(d.reasons[0], "60 requests per minute")
}

test_auth_outranks_everything if {
	i := object.union(base, {
		"auth": {"status": "disabled", "enforced": true},
		"model": "gpt-4.1",
		"usage": {
			"budgets": [{"id": "b", "scope": "key", "owner": "x", "period": "total", "limitUsd": 1, "usedUsd": 1, "requestUsd": 1}],
			"rateLimits": [],
		},
	})
	d := decide(i)
	d.status == 401
	d.code == "key_disabled"
	d.reasons == ["This Portcullis virtual key has been disabled. Ask your platform team for help."]
}

# What the gateway sends for a key refused from the headers alone: the body was never read.
unread_call(auth, key) := object.union(
	object.remove(base, ["key", "pricedModel", "provider", "tools"]),
	{"auth": auth, "key": key, "model": "", "tools": []},
)

test_refused_key_hears_only_why if {
	every auth in [
		{"status": "missing", "enforced": true},
		{"status": "unknown", "enforced": false},
		{"status": "expired", "enforced": true},
		{"status": "disabled", "enforced": true},
	] {
		d := decide(unread_call(auth, object.get({"missing": null}, auth.status, base.key)))
		d.status == 401
		d.code == sprintf("key_%s", [auth.status])
		count(d.reasons) == 1
		not contains(d.reasons[0], "Model")
	}
}

test_call_naming_no_model_is_left_to_the_gateway if {
	d := decide(unread_call({"status": "ok", "enforced": true}, base.key))
	d.allow
}

finding(action) := {
	"rule": "aws_access_key_id", "type": "secret", "stage": "request", "path": "messages[2].content[0].text",
	"action": action, "fingerprint": sprintf("fp-%s", [action]), "chain": "default", "step": 0,
}

test_guardrail_block_refuses_with_location if {
	d := decide(object.union(base, {"guardrails": {"findings": [finding("block")]}}))
	d.status == 400
	d.code == "guardrail_blocked"
	contains(d.reasons[0], "messages[2].content[0].text")
	not contains(d.reasons[0], "fp-block")
}

test_guardrail_block_names_each_finding_once if {
	again := object.union(finding("block"), {"path": "messages[4].content[0].text"})
	other := object.union(finding("block"), {"rule": "github_pat", "fingerprint": "fp-gh"})
	d := decide(object.union(base, {"guardrails": {"findings": [finding("block"), again, other]}}))
	count(d.reasons) == 1
	contains(d.reasons[0], "aws_access_key_id (secret) found at messages[2].content[0].text, messages[4].content[0].text")
	contains(d.reasons[0], "github_pat (secret) found at messages[2].content[0].text")
	contains(d.reasons[0], "stays in this conversation")
}

test_guardrail_redact_allows_and_lists_fingerprints if {
	d := decide(object.union(base, {"guardrails": {"findings": [finding("redact"), finding("log")]}}))
	d.allow
	d.redact == ["fp-redact"]
}

mcp_call(tool) := object.union(base, {"surface": "mcp.tools_call", "mcp": {"server": "github", "tool": tool}})

test_mcp_tool_scope if {
	decide(mcp_call("get_issue")).allow
	d := decide(mcp_call("create_issue"))
	d.status == 403
	d.code == "tool_not_allowed"
	not decide(mcp_call("delete_repo")).allow
}

test_mcp_not_limited_by_provider_list if {
	i := mcp_call("get_issue")
	decide(object.union(object.remove(i, ["key"]), {"key": object.union(i.key, {"providers": ["openai"]})})).allow
}

test_mcp_unscoped_key_may_call_anything if {
	i := mcp_call("create_issue")
	decide(object.union(object.remove(i, ["key"]), {"key": object.remove(i.key, ["toolScope"])})).allow
}

test_agent_allow_list if {
	scopes := {"strict": {"agentTools": {"allow": ["Read", "Grep*"]}}}
	i := object.union(base, {"key": object.union(base.key, {"toolScope": "strict"}), "tools": ["Read", "GrepFiles", "Bash"]})
	d := gateway.decision with input as i with data.portcullis.toolScopes as scopes
	d.stripTools == ["Bash"]
}

test_model_globs_of_every_shape if {
	models := ["gpt-5-mini", "claude-haiku-*", "gemini-2.?-flash", "o[13]"]
	every m in ["gpt-5-mini", "claude-haiku-4-5-20251001", "gemini-2.5-flash", "o3"] {
		decide(object.union(base, {"model": m, "key": object.union(base.key, {"models": models})})).allow
	}
	every m in ["gpt-5-mini-2", "claude-sonnet-4-5", "gemini-2.5-pro", "o2", "gpt-5"] {
		not decide(object.union(base, {"model": m, "key": object.union(base.key, {"models": models})})).allow
	}
}

test_unreadable_tools_refused_under_a_tool_scope if {
	unreadable := [{"path": "input[3].tools", "reason": "a tools list where this API does not declare tools"}]
	i := object.union(base, {"unreadableTools": unreadable})
	d := decide(i)
	not d.allow
	d.status == 403
	d.code == "tools_unreadable"
	contains(d.reasons[0], "input[3].tools")
}

test_unreadable_tools_pass_without_a_tool_scope if {
	i := object.union(
		with_key(object.remove(base.key, ["toolScope"])),
		{"unreadableTools": [{"path": "tools[0]", "reason": "a tool entry without a name"}]},
	)
	d := decide(i)
	d.allow
}
