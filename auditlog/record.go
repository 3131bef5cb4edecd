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
	// Actor is the signed-in user a delegated call acted as; nil for an
	// app-only call.
	Actor *Actor `json:"actor,omitempty"`

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
	// File says which file's content a call moved and how many bytes,
	// for calls under a content rule and the proxy's file links; nil on
	// every other record.
	File *File `json:"file,omitempty"`
	// Direction is empty for a call the proxy forwards to Graph, and
	// "inbound" for a change notification Graph sent through the proxy to
	// a caller (Notification then says which).
	Direction string `json:"direction,omitempty"`
	// Notification describes an inbound change notification: never its
	// data, only what it is about. Nil on every other record.
	Notification *Notification `json:"notification,omitempty"`

	Status         int `json:"status"`
	UpstreamStatus int `json:"upstreamStatus"`
	// Attempts counts the times the request went on the wire to Graph
	// (its headers written): 1 for a call sent once, more when a
	// transport sent it again, 0 (and then absent) for a call never
	// sent. A call sent and never answered (Graph too slow, the caller
	// gone, the proxy shut down) has Attempts and no UpstreamStatus.
	// Records written before the field existed have none; there an
	// UpstreamStatus says the call was sent once.
	Attempts   int     `json:"attempts,omitempty"`
	RetryAfter float64 `json:"retryAfter"`
	BytesIn    int64   `json:"bytesIn"`
	BytesOut   int64   `json:"bytesOut"`
	DurationMs float64 `json:"durationMs"`
	UpstreamMs float64 `json:"upstreamMs"`
	Error      string  `json:"error"`
}

// Caller identifies who made the call, as far as it was established.
type Caller struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	AppID    string `json:"appId"`
	Auth     string `json:"auth"`
	IP       string `json:"ip"`
}

// Actor is the user a caller acted as (delegated access): who, beside
// the caller's what.
type Actor struct {
	// ObjectID is the user's object id (oid).
	ObjectID string `json:"oid"`
	// UPN is the user's upn or preferred_username; empty when the token
	// carried neither.
	UPN string `json:"upn"`
	// TenantID is the user's tenant (tid).
	TenantID string `json:"tenantId"`
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

// Notification is what an inbound record says of one change notification:
// what it is about, never what it carries.
type Notification struct {
	// SubscriptionID is Graph's id of the subscription.
	SubscriptionID string `json:"subscriptionId"`
	// ChangeType is created, updated or deleted; empty for a lifecycle
	// notification.
	ChangeType string `json:"changeType"`
	// LifecycleEvent is reauthorizationRequired, subscriptionRemoved or
	// missed; empty for a change.
	LifecycleEvent string `json:"lifecycleEvent"`
	// Resource is the Graph path the notification is about.
	Resource string `json:"resource"`
	// TenantID is the tenant the notification names.
	TenantID string `json:"tenantId"`
	// ResourceData is whether the notification carried the resource's
	// data (encryptedContent), which the record never holds.
	ResourceData bool `json:"resourceData"`
}

// File is what a record says of file content moving through the proxy:
// which file and how many of its bytes, never the bytes nor the file
// host's URL.
type File struct {
	// Op is download, upload (a simple PUT), uploadSession (a session
	// created), uploadRange (one range of a session), uploadStatus or
	// uploadCancel.
	Op string `json:"op"`
	// Drive and Item are the drive's and the item's ids as the call's
	// path names them (the message's id for a mail attachment); Drive is
	// empty for a user's drive named by the user.
	Drive string `json:"drive"`
	Item  string `json:"item"`
	// Name is the file's name when the file host gave it.
	Name string `json:"name"`
	// Session links the records of one upload session: a digest of its
	// upload URL, never the URL.
	Session string `json:"session"`
	// Range is an upload range's Content-Range, or a partial download's.
	Range string `json:"range"`
	// BytesUp and BytesDown are the file's bytes moved from the caller to
	// the file's host and from the host to the caller.
	BytesUp   int64 `json:"bytesUp"`
	BytesDown int64 `json:"bytesDown"`
	// Outcome is what became of a session or a range: created, accepted,
	// completed, cancelled, or refused.
	Outcome string `json:"outcome"`
}

// Sent is how many requests to Graph the record accounts for: its
// Attempts, or, on a record written before they were counted, one if
// Graph answered.
func (r *Record) Sent() int {
	switch {
	case r.Attempts > 0:
		return r.Attempts
	case r.UpstreamStatus != 0:
		return 1
	}
	return 0
}
