package portcullis.gateway

denials contains {
	"priority": 40,
	"status": 402,
	"code": "budget_exceeded",
	"message": sprintf(
		"The %s budget of %s %s (%s USD) does not cover this call: %s USD used, this call may cost up to %s USD.%s",
		[b.period, b.scope, b.owner, usd(b.limitUsd), usd(b.usedUsd), usd(b.requestUsd), reset_note(b)],
	),
	"retryAfterSeconds": object.get(b, "resetsInSeconds", 0),
} if {
	some b in input.usage.budgets
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
