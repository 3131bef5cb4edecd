package policy

// Result is the outcome of a decision. The zero value is Deny.
type Result uint8

const (
	// Deny refuses the call.
	Deny Result = iota
	// Allow forwards the call.
	Allow
	// Report forwards a call the policy would deny, and records that it
	// would have (mode: report-only).
	Report
)

func (r Result) String() string {
	switch r {
	case Allow:
		return "allow"
	case Report:
		return "report"
	default:
		return "deny"
	}
}

// Forwarded reports whether a call with this result goes to Graph.
func (r Result) Forwarded() bool { return r == Allow || r == Report }

// Refusal says what kind of denial a decision is, and so what the caller is
// answered. The zero value is a refusal by the policy.
type Refusal uint8

const (
	// RefusalPolicy: the policy does not allow the call (403).
	RefusalPolicy Refusal = iota
	// RefusalMalformed: the request is not of a shape the proxy can read
	// whole — a member of the wrong type, one a call cannot work without
	// missing, a malformed $batch (400).
	RefusalMalformed
	// RefusalMediaType: the body's Content-Type is not one its route is
	// read as (415).
	RefusalMediaType
)
