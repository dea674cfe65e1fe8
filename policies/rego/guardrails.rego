package portcullis.gateway

denials contains {
	"priority": 30,
	"status": 400,
	"code": "guardrail_blocked",
	"message": sprintf(
		"Blocked by guardrail chain %s: %s (%s) found at %s. Remove it from the conversation and try again.",
		[f.chain, f.rule, f.type, f.path],
	),
} if {
	some f in input.guardrails.findings
	f.stage == "request"
	f.action == "block"
}

redactions := sort({f.fingerprint |
	some f in input.guardrails.findings
	f.action == "redact"
})
