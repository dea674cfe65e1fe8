package portcullis.gateway

# The person behind a call is part of the input (input.key.kind, subject, email, groups, idp), so
# policy can decide on people as well as keys. Example: contractors signed in through single
# sign-on may use every model their team's members template allows except the Opus tier.
contractor_groups := {"contractors"}

denials contains {
	"priority": 23,
	"status": 403,
	"code": "model_not_allowed_for_group",
	"message": sprintf(
		"%s may not use model %s: members of group %s are limited to Sonnet and Haiku.",
		[object.get(input.key, "email", input.key.subject), input.model, group],
	),
} if {
	input.key.kind in person_kinds
	startswith(input.model, "claude-opus")
	some group in input.key.groups
	group in contractor_groups
}

# A person whose sign-in was refused has no team and no models; the refusal says why, and a list of
# the models they "may" use would only confuse.
refused_person if {
	input.key.kind in person_kinds
	input.auth.status != "ok"
}
