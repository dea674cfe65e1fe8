package portcullis.gateway_test

person := {
	"id": "user:acme-sso:00u1dana", "owner": "dana@acme.example", "team": "app-dev",
	"teams": ["app-dev", "acme"], "providers": [], "models": ["claude-*"],
	"kind": "personal", "subject": "00u1dana", "email": "dana@acme.example",
	"groups": ["app-developers"], "idp": "acme-sso",
}

person_input(k, auth) := object.union(object.remove(base, ["key", "auth"]), {"key": k, "auth": auth})

test_person_allowed if {
	d := decide(person_input(person, {"status": "ok", "enforced": true}))
	d.allow
}

test_expired_personal_key_says_sign_in_again if {
	d := decide(person_input(person, {"status": "expired", "enforced": true}))
	not d.allow
	d.status == 401
	d.code == "key_expired"
	contains(d.reasons[0], "portcullis login")
}

test_revoked_personal_key_says_revoked if {
	k := object.union(person, {"team": "", "teams": [], "models": []})
	d := decide(person_input(k, {"status": "disabled", "enforced": true, "reason": "revoked"}))
	not d.allow
	d.code == "key_disabled"
	contains(d.reasons[0], "revoked")
	count(d.reasons) == 1
}

test_person_in_no_mapped_group_told_why if {
	k := object.union(person, {"team": "", "teams": [], "models": [], "groups": ["sales"]})
	d := decide(person_input(k, {"status": "disabled", "enforced": true, "reason": "no_team"}))
	not d.allow
	d.status == 401
	contains(d.reasons[0], "dana@acme.example")
	contains(d.reasons[0], "none of the identity provider groups")
	contains(d.reasons[0], "sales")
}

test_person_with_no_groups_told_none if {
	k := object.union(object.remove(person, ["email"]), {"team": "", "teams": [], "groups": []})
	d := decide(person_input(k, {"status": "disabled", "enforced": true, "reason": "no_team"}))
	contains(d.reasons[0], "00u1dana")
	contains(d.reasons[0], "your groups: none")
}

test_static_key_keeps_key_messages if {
	d := decide(object.union(base, {"auth": {"status": "expired", "enforced": true}}))
	contains(d.reasons[0], "virtual key has expired")
}

test_jwt_unknown_reason_falls_back_to_status if {
	k := object.union(person, {"kind": "jwt"})
	d := decide(person_input(k, {"status": "unknown", "enforced": true, "reason": "something-new"}))
	contains(d.reasons[0], "portcullis login")
}

test_contractor_refused_opus if {
	k := object.union(person, {"groups": ["app-developers", "contractors"]})
	opus := {"model": "claude-opus-4-8", "pricedModel": "claude-opus-4-8"}
	i := object.union(person_input(k, {"status": "ok", "enforced": true}), opus)
	d := decide(i)
	not d.allow
	d.code == "model_not_allowed_for_group"
	contains(d.reasons[0], "contractors")
}

test_contractor_allowed_sonnet if {
	k := object.union(person, {"groups": ["contractors"]})
	d := decide(person_input(k, {"status": "ok", "enforced": true}))
	d.allow
}

test_static_key_not_subject_to_group_rule if {
	i := object.union(base, {"model": "claude-opus-4-8", "pricedModel": "claude-opus-4-8"})
	d := decide(with_key(object.union(base.key, {"models": ["claude-*"]})))
	d.allow
	d2 := decide(object.union(i, {"key": object.union(base.key, {"models": ["claude-*"]})}))
	not d2.code == "model_not_allowed_for_group"
}
