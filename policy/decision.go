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
