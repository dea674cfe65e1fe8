# METADATA
# title: Portcullis gateway decision
# description: |
#   One decision per proxied call. The gateway supplies the facts as input (see
#   src/policy/decision.ts); this package decides. Denials carry a priority: the lowest number
#   sets the HTTP status the caller sees, and every reason is reported (for a caller that did not
#   authenticate, only why: its other facts were never read).
package portcullis.gateway

# METADATA
# entrypoint: true
decision := result if {
	# Bind the denial set once: the Wasm target does not memoise rules between references.
	# regal ignore:pointless-reassignment
	found := reported_denials
	ordered := [d |
		some key in sort([[x.priority, x.code, x.message] | some x in found])
		some d in found
		[d.priority, d.code, d.message] == key
	]
	result := {
		"allow": count(found) == 0,
		"status": status_of(ordered),
		"code": code_of(ordered),
		"reasons": [d.message | some d in ordered],
		"retryAfterSeconds": retry_after_of(found),
		"redact": redactions,
		"stripTools": strip_tools,
		"warnings": sort([w | some w in warnings]),
		"routeTargets": sort(route_targets),
	}
}

allow := decision.allow

# A caller who did not authenticate is told only that: the other rules would judge facts the gateway
# never read (an empty model, no provider) and add reasons that make no sense.
reported_denials := auth_denials if auth_failed

else := denials

# Sentences for an allowed call (limits.rego adds a spent soft budget's). Declared here with no
# sentence of its own so that a policy without those files still decides.
warnings contains w if {
	some w in []
}

status_of(ordered) := ordered[0].status if count(ordered) > 0

else := 200

code_of(ordered) := ordered[0].code if count(ordered) > 0

else := "ok"

# The longest wait among the denials that ask the client to retry later.
retry_after_of(found) := max({d.retryAfterSeconds | some d in found; d.retryAfterSeconds}) if {
	some d in found
	d.retryAfterSeconds
} else := 0
