package portcullis.gateway

# One refusal naming each blocked finding once: the same credential resent at several places (an
# agent resends the whole history every turn) is one finding with its places. Interactive users are
# told why it will keep happening: the credential stays in the conversation until they remove it.
blocked_findings := [f |
	some f in input.guardrails.findings
	f.stage == "request"
	f.action == "block"
]

denials contains {
	"priority": 30,
	"status": 400,
	"code": "guardrail_blocked",
	"message": sprintf("Blocked by guardrail chain %s: %s. %s", [blocked_chains, blocked_described, stays_in_conversation]),
} if {
	count(blocked_findings) > 0
}

blocked_chains := concat(", ", sort({f.chain | some f in blocked_findings}))

blocked_described := concat("; ", sort({described(f) | some f in blocked_findings}))

described(f) := sprintf("%s (%s) found at %s", [f.rule, f.type, concat(", ", places_of(f))])

stays_in_conversation := concat(" ", [
	"It stays in this conversation and is sent again with every request until you remove it:",
	"clear the conversation (or edit the message out) and try again.",
])

places_of(f) := sort({g.path | some g in blocked_findings; g.fingerprint == f.fingerprint})

redactions := sort({f.fingerprint |
	some f in input.guardrails.findings
	f.action == "redact"
})
