# The bench's allow-list as a customer would write it for Open Policy Agent
# behind a reverse proxy: the same callers and rules graph-proxy reads from
# its policy file (YAML), here as data, and the decision in Rego.
#
# data.entra: the vendor's token issuer — jwks (the JWKS document, a string),
#   audience, and issuers (issuer URL → tenant id).
# data.graph: callers (name, tenantID, appID, permissions) and rules (id,
#   methods, versions, path, segments: the path split and lower-cased,
#   query, permission, peopleDomains), in the order of the policy file.
# input: method, path (decoded), query (the option names), authorization
#   (the header), content_type, has_body, body (the JSON body, parsed by the
#   proxy), body_error (it did not parse) and query_error (nor the query).
#
# The proxy acts on decision: allow, or the status and reason of a refusal.
package graphproxy

import rego.v1

default decision := {"allow": false, "status": 401, "reason": "no valid bearer token"}

decision := refuse(401, "no valid bearer token") if {
	not claims
} else := refuse(403, sprintf("application %s of tenant %s is not a caller in the policy", [app_id, claims.tid])) if {
	not caller
} else := refuse(403, sprintf("no rule of caller %q serves %s %s", [caller.name, input.method, input.path])) if {
	not rule
} else := refuse(415, min(unsupported)) if {
	count(unsupported) > 0
} else := refuse(400, min(malformed)) if {
	count(malformed) > 0
} else := refuse(403, min(refused)) if {
	count(refused) > 0
} else := {"allow": true, "caller": caller.name, "rule": rule.id}

refuse(status, reason) := {"allow": false, "status": status, "reason": reason}

# --- Who is calling: the vendor's Entra ID access token. ---

bearer := token if {
	[scheme, token] := split(input.authorization, " ")
	lower(scheme) == "bearer"
	token != ""
}

# claims are the token's, once its signature (RS256, a key of the JWKS),
# audience and times are verified; the issuer must be an accepted tenant's
# and the token that tenant's, app-only.
claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(bearer, {
		"cert": data.entra.jwks,
		"alg": "RS256",
		"aud": data.entra.audience,
	})
	valid
	is_number(payload.exp)
	tenant := data.entra.issuers[payload.iss]
	lower(payload.tid) == tenant
	payload.idtyp == "app"
}

app_id := lower(claims.azp) if {
	claims.azp != ""
} else := lower(claims.appid)

caller := c if {
	some c in data.graph.callers
	c.tenantID == lower(claims.tid)
	c.appID == app_id
}

# --- What it asks for: the first rule, in file order, that serves it. ---

parts := split(input.path, "/")

version := parts[1]

segments := array.slice(parts, 2, count(parts))

rule := serving[0]

serving := [r |
	some r in data.graph.by_method[input.method]
	version in r.versions
	r.permission in caller.permissions
	path_matches(r.segments, segments)
]

path_matches(template, path) if {
	count(template) == count(path)
	every i, t in template {
		segment_matches(t, path[i])
	}
}

# A variable ({user}, {id}) matches any segment; a literal, without case.
segment_matches(t, s) if {
	startswith(t, "{")
	s != ""
}

segment_matches(t, s) if t == lower(s)

# --- What the request carries: query options and body. ---

paging := {"$skiptoken", "$deltatoken"}

refused contains sprintf("query option %s is not allowed by rule %q", [q, rule.id]) if {
	some q in input.query
	not q in rule.query
	not paged(q)
}

paged(q) if {
	input.method == "GET"
	q in paging
}

unsupported contains "a JSON body needs Content-Type application/json" if {
	input.has_body
	not startswith(lower(input.content_type), "application/json")
}

malformed contains "request body is not acceptable JSON" if input.body_error

malformed contains "the query string cannot be read" if input.query_error

malformed contains "a request body must be a JSON object" if {
	input.has_body
	not input.body_error
	not is_object(input.body)
}

malformed contains sprintf("%s takes no request body", [input.method]) if {
	input.has_body
	input.method in {"GET", "DELETE"}
}

# getSchedule names the mailboxes whose free/busy it reads: a non-empty
# list of addresses, each in a domain the rule allows (peopleDomains).
get_schedule if {
	input.method == "POST"
	lower(segments[count(segments) - 1]) == "getschedule"
}

malformed contains "getSchedule schedules must be a non-empty list of mailbox addresses" if {
	get_schedule
	not non_empty_list(input.body.schedules)
}

malformed contains sprintf("schedules[]: %v is not one email address", [s]) if {
	get_schedule
	some s in input.body.schedules
	not address(s)
}

refused contains "the call names more than 500 people" if {
	get_schedule
	count(input.body.schedules) > 500
}

refused contains sprintf("schedules[] %s is outside the domains rule %q allows", [s, rule.id]) if {
	get_schedule
	count(rule.peopleDomains) > 0
	some s in input.body.schedules
	address(s)
	not in_domains(domain(s), rule.peopleDomains)
}

non_empty_list(v) if {
	is_array(v)
	count(v) > 0
}

address(s) if {
	is_string(s)
	regex.match(`^[^@\s<>(),;:"]+@[a-z0-9-]+(\.[a-z0-9-]+)+$`, lower(s))
}

domain(s) := lower(split(s, "@")[1])

# A domain matches itself; "*.contoso.example" matches its subdomains.
in_domains(d, domains) if d in domains

in_domains(d, domains) if {
	some pattern in domains
	startswith(pattern, "*.")
	endswith(d, substring(pattern, 1, -1))
}
