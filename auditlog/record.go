package auditlog

import "time"

// Record is one audit record: one JSON object per line. Field names are the
// contract of docs/architecture.md ("The audit record") and of the
// GraphProxyAudit_CL table.
//
// Seq, Prev and Hash chain the records of one replica: Hash is
// "sha256:" and the hex SHA-256 of Prev followed by the record's JSON line
// as written with Hash empty, so that any change to a line, a removed line
// or two swapped lines breaks the chain.
type Record struct {
	Time    time.Time `json:"time"`
	Replica string    `json:"replica"`
	Seq     uint64    `json:"seq"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`

	// Kind is empty for a call, or names a record of the proxy's own:
	// "genesis" (a chain starts), "policy" (a policy was loaded or a
	// reload rejected), "checkpoint" (a signed chain head) or "close"
	// (the chain ends at shutdown).
	Kind string `json:"kind,omitempty"`
	// ProxyVersion and PolicyDigest are set on genesis and policy
	// records.
	ProxyVersion string `json:"proxyVersion,omitempty"`
	PolicyDigest string `json:"policyDigest,omitempty"`

	RequestID       string `json:"requestId"`
	ClientRequestID string `json:"clientRequestId"`
	GraphRequestID  string `json:"graphRequestId"`

	Caller Caller `json:"caller"`

	Method  string `json:"method"`
	Version string `json:"version"`
	Path    string `json:"path"`
	Route   string `json:"route"`
	Target  string `json:"target"`
	// Targets are all the users the call touches: the path's and those
	// named in the body (getSchedule's schedules, attendees).
	Targets []string `json:"targets"`
	Query   []string `json:"query"`

	Rule       string `json:"rule"`
	Permission string `json:"permission"`
	Decision   string `json:"decision"`
	Reason     string `json:"reason"`

	Batch *Batch `json:"batch,omitempty"`
	// Checkpoint is the signed chain head a checkpoint or close record
	// carries (checkpoint.go).
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Response says which rule's response section filtered the answer
	// and what it did (on a $batch's record, its sub-responses' totals);
	// nil when no section applied.
	Response *Response `json:"response,omitempty"`

	Status         int     `json:"status"`
	UpstreamStatus int     `json:"upstreamStatus"`
	RetryAfter     float64 `json:"retryAfter"`
	BytesIn        int64   `json:"bytesIn"`
	BytesOut       int64   `json:"bytesOut"`
	DurationMs     float64 `json:"durationMs"`
	UpstreamMs     float64 `json:"upstreamMs"`
	Error          string  `json:"error"`
}

// Caller identifies who made the call, as far as it was established.
type Caller struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	AppID    string `json:"appId"`
	Auth     string `json:"auth"`
	IP       string `json:"ip"`
}

// Batch links a $batch sub-request's record to the batch that carried it.
type Batch struct {
	// RequestID is the proxy request id of the enclosing $batch call.
	RequestID string `json:"requestId"`
	// ID is the sub-request's id within the batch.
	ID string `json:"id"`
}

// Response is what a rule's response section did to an answer: counts,
// never values.
type Response struct {
	// Rule is the rule whose section applied; empty on a $batch's own
	// record.
	Rule string `json:"rule"`
	// Removed counts the members and list elements removed.
	Removed int `json:"removed"`
	// Pseudonymised counts the values replaced by pseudonyms.
	Pseudonymised int `json:"pseudonymised"`
}
