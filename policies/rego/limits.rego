package portcullis.gateway

denials contains {
	"priority": 40,
	"status": 402,
	"code": "budget_exceeded",
	"message": concat("", [
		sprintf(
			"The %s%s budget of %s %s (%s USD) does not cover this call: ",
			[b.period, scope_note(b), b.scope, b.owner, usd(b.limitUsd)],
		),
		sprintf("%s USD used, this call %s %s USD.%s", [usd(b.usedUsd), cost_verb(b), usd(b.requestUsd), reset_note(b)]),
		" See them all with `portcullis usage`.",
	]),
	"retryAfterSeconds": object.get(b, "resetsInSeconds", 0),
} if {
	some b in input.usage.budgets
	object.get(b, "enforcement", "hard") != "soft"
	b.usedUsd + b.requestUsd > b.limitUsd
}

denials contains {
	"priority": 50,
	"status": 429,
	"code": "rate_limited",
	"message": sprintf("Rate limit of %s %s reached: %d %s.%s", [r.scope, r.owner, r.limit, limit_units[r.kind], reset_note(r)]),
	"retryAfterSeconds": max({1, object.get(r, "resetsInSeconds", 1)}),
} if {
	some r in input.usage.rateLimits
	r.used + r.request > r.limit
}

limit_units := {
	"requests_per_minute": "requests per minute",
	"tokens_per_hour": "tokens per hour",
	"requests_in_flight": "requests in flight",
}

# Dollars with two decimals, computed in whole cents (sprintf's %f differs between OPA and Wasm hosts).
usd(x) := sprintf("%d.%02d", [floor(cents / 100), cents % 100]) if cents := round(x * 100)

reset_note(u) := sprintf(" It resets at %s.", [u.resetsAt]) if u.resetsAt

else := ""

# A soft budget over its amount lets the call through with a warning (header, audit, alert).
warnings contains sprintf(
	"The %s%s budget of %s %s (%s USD) is spent: %s USD used. Calls still go through; tell your platform team if you need more.",
	[b.period, scope_note(b), b.scope, b.owner, usd(b.limitUsd), usd(b.usedUsd + b.requestUsd)],
) if {
	some b in input.usage.budgets
	b.enforcement == "soft"
	b.usedUsd + b.requestUsd > b.limitUsd
}

cost_verb(b) := "is expected to cost" if b.mode == "expected"

else := "may cost up to"

scope_note(b) := sprintf(" %s", [concat("/", b.models)]) if b.models

else := sprintf(" %s", [concat("/", b.providers)]) if b.providers

else := ""
