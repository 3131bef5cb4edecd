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

// Decision is the verdict on one request. The zero value denies.
type Decision struct {
	Result Result
	// RuleID is the rule that allowed the call; empty when none did.
	RuleID string
	// Permission is the Graph permission the matching rule exercises.
	Permission string
	// Reason says why the call was denied (or would have been); it goes to
	// the audit log, never to the caller.
	Reason string
}

// Args are what a Decider decides on. A struct keeps the Decider interface
// stable as fields are added.
type Args struct {
	// Caller is the name of the authenticated caller (policy callers[].name).
	Caller string
	// Request is the canonical request.
	Request Request
}

// Decider decides requests.
type Decider interface {
	Decide(Args) Decision
}

// AllowAll is a Decider that allows every canonical request. It exists for
// the forwarding core's tests and must not be used in production: the
// allow-list engine replaces it.
type AllowAll struct{}

// Decide allows a.
func (AllowAll) Decide(a Args) Decision {
	return Decision{Result: Allow, RuleID: "allow-all"}
}
