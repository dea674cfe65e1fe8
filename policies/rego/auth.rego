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

denials contains {
	"priority": 10,
	"status": 401,
	"code": sprintf("key_%s", [input.auth.status]),
	"message": auth_messages[input.auth.status],
} if {
	input.auth.status != "ok"
	auth_refused
}

# A call without a key is refused only where the gateway enforces auth; a bad key is always refused.
auth_refused if input.auth.status != "missing"

auth_refused if input.auth.enforced
