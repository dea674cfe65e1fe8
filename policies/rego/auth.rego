package portcullis.gateway

auth_messages := {
	"missing": concat(" ", [
		"No API key was sent.",
		"Set your client's API key to the Portcullis virtual key your platform team gave you.",
	]),
	"unknown": concat(" ", [
		"The API key is not a valid Portcullis virtual key.",
		"Check that you copied it whole, or ask your platform team for a new one.",
	]),
	"expired": "This Portcullis virtual key has expired. Ask your platform team for a new one.",
	"disabled": "This Portcullis virtual key has been disabled. Ask your platform team for help.",
}

auth_denials contains {
	"priority": 10,
	"status": 401,
	"code": sprintf("key_%s", [input.auth.status]),
	"message": auth_message,
} if {
	auth_failed
}

denials contains d if some d in auth_denials

# The caller did not authenticate: the gateway refuses before reading the body, so nothing else
# about the call (model, provider, usage, content) is known, and decision.rego reports only why.
auth_failed if {
	input.auth.status != "ok"
	auth_refused
}

# A call without a key is refused only where the gateway enforces auth; a bad key is always refused.
auth_refused if input.auth.status != "missing"

auth_refused if input.auth.enforced

# People signed in through an IdentityProvider (personal keys, IdP tokens) get messages about
# signing in, not about keys the platform team hands out.
person_kinds := {"personal", "jwt"}

person_auth_messages := {
	"expired": concat(" ", [
		"Your Portcullis sign-in has expired.",
		"Run `portcullis login` (or start your agent with `portcullis run`, which signs you in).",
	]),
	"revoked": concat(" ", [
		"Your Portcullis personal key was revoked.",
		"Run `portcullis login` for a new one, or ask your platform team why it was revoked.",
	]),
	"idp_removed": concat(" ", [
		"The identity provider that signed you in is no longer configured on this gateway.",
		"Run `portcullis login` again.",
	]),
	"disabled": "Your Portcullis access has been disabled. Ask your platform team for help.",
	"unknown": "Your Portcullis sign-in is not valid here. Run `portcullis login` again.",
}

auth_message := msg if {
	input.key.kind in person_kinds
	input.auth.reason == "no_team"
	msg := sprintf(
		concat(" ", [
			"You (%s) are in none of the identity provider groups that are mapped to a team",
			"(your groups: %s). Ask to be added to your team's group.",
		]),
		[object.get(input.key, "email", input.key.subject), groups_text],
	)
} else := msg if {
	input.key.kind in person_kinds
	msg := person_auth_messages[input.auth.reason]
} else := msg if {
	input.key.kind in person_kinds
	msg := person_auth_messages[input.auth.status]
} else := auth_messages[input.auth.status]

default groups_text := "none"

groups_text := concat(", ", input.key.groups) if count(input.key.groups) > 0
