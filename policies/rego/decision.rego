# METADATA
# title: Portcullis gateway decision
# description: |
#   One decision per proxied call. The gateway supplies the facts as input (see
#   src/policy/decision.ts); this package decides. Denials carry a priority: the lowest number
#   sets the HTTP status the caller sees, and every reason is reported.
package portcullis.gateway

# METADATA
# entrypoint: true
decision := {
	"allow": allow,
	"status": status,
	"code": code,
	"reasons": [d.message | some d in ordered_denials],
	"retryAfterSeconds": retry_after,
	"redact": redactions,
	"stripTools": strip_tools,
}

default allow := false

allow if count(denials) == 0

ordered_denials := [d |
	some key in sort([[x.priority, x.code, x.message] | some x in denials])
	some d in denials
	[d.priority, d.code, d.message] == key
]

status := ordered_denials[0].status if not allow

else := 200

code := ordered_denials[0].code if not allow

else := "ok"

# The longest wait among the denials that ask the client to retry later.
retry_after := max({d.retryAfterSeconds | some d in denials; d.retryAfterSeconds}) if {
	some d in denials
	d.retryAfterSeconds
} else := 0
