package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// t0 is when the fixtures' first replica starts.
var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// seal writes recs, in order, as one replica's chain through the proxy's
// own audit log, and returns the lines: real hashes, as verify sees them.
// closed ends the chain with its closing record at the time given.
func seal(t testing.TB, replica string, recs []*auditlog.Record, closeAt time.Time) []byte {
	t.Helper()
	return sealAfter(t, replica, nil, recs, closeAt)
}

// sealAfter is seal for a restart that continues the chain whose lines
// are before, as the file sink's restart does (under any name).
func sealAfter(t testing.TB, replica string, before []byte, recs []*auditlog.Record, closeAt time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	l, err := auditlog.New(auditlog.Options{Replica: replica, Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}},
		BatchSize: 1, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) > 0 {
		lines := bytes.Split(bytes.TrimSuffix(before, []byte("\n")), []byte("\n"))
		var last auditlog.Record
		if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
			t.Fatal(err)
		}
		l.Continue(last.Seq, last.Hash)
	}
	for _, r := range recs {
		if err := l.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	var final *auditlog.Record
	if !closeAt.IsZero() {
		final = &auditlog.Record{Time: closeAt, Kind: "close", ProxyVersion: "v1.4.0"}
	}
	if err := l.Close(context.Background(), final); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func at(d time.Duration) time.Time { return t0.Add(d) }

// call is a record of a call, filled in where the fixtures need no more.
func call(when time.Duration, caller, method, path, decision string, status int, set func(*auditlog.Record)) *auditlog.Record {
	r := &auditlog.Record{Time: at(when), RequestID: "req-" + when.String(), Caller: auditlog.Caller{Name: caller, AppID: "app-" + caller, Auth: "entra-jwt"},
		Method: method, Version: "v1.0", Path: path, Decision: decision, Status: status}
	if caller == "" {
		r.Caller = auditlog.Caller{IP: "203.0.113.7"}
	}
	if set != nil {
		set(r)
	}
	return r
}

func forwarded(route, rule, perm string, upstream int, ms float64, targets ...string) func(*auditlog.Record) {
	return func(r *auditlog.Record) {
		r.Route, r.Rule, r.Permission, r.UpstreamStatus, r.UpstreamMs, r.Targets = route, rule, perm, upstream, ms, targets
		if len(targets) > 0 {
			r.Target = targets[0]
		}
	}
}

// fixture is the fixed set of records the aggregation tests count: two
// replicas over 27 hours, three callers and an unauthenticated one, each
// decision, Graph's 429, the proxy's own records of every kind.
func fixture() (r1, r2 []*auditlog.Record) {
	const sched = "/users/{id}/calendar/getSchedule"
	r1 = []*auditlog.Record{
		{Time: at(-time.Minute), Kind: "genesis", ProxyVersion: "v1.4.0", PolicyDigest: "sha256:aaaa"},
		call(0, "engage", "POST", "/users/a@contoso.example/calendar/getSchedule", allow, 200,
			forwarded(sched, "schedules", "Calendars.ReadBasic", 200, 100, "a@contoso.example", "b@contoso.example")),
		call(10*time.Minute, "engage", "POST", "/users/a@contoso.example/calendar/getSchedule", allow, 200,
			forwarded(sched, "schedules", "Calendars.ReadBasic", 200, 300, "a@contoso.example")),
		call(20*time.Minute, "engage", "POST", "/users/a@contoso.example/events", deny, 403, func(r *auditlog.Record) {
			r.Reason, r.Targets, r.Target = "no rule allows this call", []string{"a@contoso.example"}, "a@contoso.example"
		}),
		call(90*time.Minute, "crm", "GET", "/users", allow, 429, func(r *auditlog.Record) {
			forwarded("/users", "list-users", "User.ReadBasic.All", 429, 50)(r)
			r.RetryAfter = 5
		}),
		call(2*time.Hour, "crm", "GET", "/users/b@contoso.example/messages", report, 200, func(r *auditlog.Record) {
			forwarded("/users/{id}/messages", "mail", "Mail.Read", 200, 200, "b@contoso.example")(r)
			r.Reason = "mail is not allowed for this caller"
		}),
		call(3*time.Hour, "", "GET", "/users", deny, 401, func(r *auditlog.Record) { r.Reason = "unauthenticated" }),
		{Time: at(4 * time.Hour), Kind: "policy", ProxyVersion: "v1.4.0", PolicyDigest: "sha256:bbbb", Decision: "loaded"},
		{Time: at(5 * time.Hour), Kind: "policy", ProxyVersion: "v1.4.0", PolicyDigest: "sha256:bbbb", Decision: "rejected", Error: "policy.yaml:3: version is required"},
		{Time: at(6 * time.Hour), Kind: "connection", RequestID: "conn-1", Caller: auditlog.Caller{IP: "198.51.100.4"}, Decision: deny, Status: 0,
			Reason: "no complete request within limits.readHeaderTimeout", Error: "connection closed without an answer"},
	}
	r2 = []*auditlog.Record{
		{Time: at(25 * time.Hour), Kind: "genesis", ProxyVersion: "v1.4.0", PolicyDigest: "sha256:bbbb"},
		call(26*time.Hour, "engage", "POST", "/users/c@contoso.example/calendar/getSchedule", allow, 200,
			forwarded(sched, "schedules", "Calendars.ReadBasic", 200, 1000, "c@contoso.example")),
		call(27*time.Hour, "engage", "POST", "/users/c@contoso.example/events", deny, 403, func(r *auditlog.Record) {
			r.Reason = "no rule allows this call"
		}),
	}
	return r1, r2
}

// fixtureFiles writes the fixture as two replicas' files, each chain
// closed, and returns their paths.
func fixtureFiles(t testing.TB, dir string) []string {
	t.Helper()
	r1, r2 := fixture()
	return []string{
		writeFile(t, dir, "r1.jsonl", seal(t, "r1", r1, at(7*time.Hour))),
		writeFile(t, dir, "r2.jsonl", seal(t, "r2", r2, at(28*time.Hour))),
	}
}
