package auditlog

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"testing"
	"time"
)

// fuzzRecord builds a record whose every kind of field comes from the
// fuzzer: free text in the string fields, times of any year and zone,
// floats of any magnitude, nil or empty lists, with or without a batch,
// a checkpoint and a response section's counts.
func fuzzRecord(text, path string, secs, nsec int64, zone int, f1, f2 float64, n int64, lists byte) *Record {
	r := &Record{
		Time:    time.Unix(secs, nsec).In(time.FixedZone("", zone)),
		Replica: text, Seq: uint64(n), Prev: path, Kind: text, ProxyVersion: path,
		RequestID: text, ClientRequestID: path, GraphRequestID: text,
		Caller: Caller{Name: text, TenantID: path, AppID: text, Auth: path, IP: text},
		Method: path, Version: text, Path: path, Route: text, Target: path,
		Rule: text, Permission: path, Decision: text, Reason: path,
		Status: int(n), UpstreamStatus: -int(n), RetryAfter: f1, BytesIn: n, BytesOut: -n,
		DurationMs: f2, UpstreamMs: f1 * f2, Error: text,
	}
	switch lists % 3 {
	case 1:
		r.Targets, r.Query = []string{}, []string{}
		r.Checkpoint = &Checkpoint{Seq: uint64(-n), Hash: path, Error: text}
	case 2:
		r.Targets, r.Query = []string{text, path}, []string{path}
		r.Batch = &Batch{RequestID: path, ID: text}
		r.Checkpoint = &Checkpoint{Seq: uint64(n), Hash: text, KeyID: path, Alg: text, Signature: path}
	}
	if lists&16 != 0 {
		r.Actor = &Actor{ObjectID: path, UPN: text, TenantID: path}
	}
	if lists&4 != 0 {
		r.Response = &Response{Rule: text, Removed: int(n), Pseudonymised: -int(n >> 1)}
	}
	if lists&32 != 0 {
		r.File = &File{Op: text, Drive: path, Item: text, Name: path, Session: text, Range: path, BytesUp: n, BytesDown: -n, Outcome: text}
	}
	if lists&8 != 0 {
		r.Direction = text
		r.Notification = &Notification{SubscriptionID: text, ChangeType: path, LifecycleEvent: text, Resource: path, TenantID: text, ResourceData: n%2 == 0}
	}
	return r
}

// FuzzAppendRecord holds the hand-written encoder to json.Marshal: the
// same bytes, or an error where Marshal fails, and the hash's offset
// right after `"hash":"`.
func FuzzAppendRecord(f *testing.F) {
	f.Add("engage-eu", "/users/adelev@contoso.example/events", int64(1764072000), int64(123456789), 0, 41.25, 0.5, int64(200), byte(2))
	f.Add("<script>&\u2028\u2029\"\\", "\x00\x01\b\f\n\r\t\x1f\x7f", int64(-62135596800), int64(0), 3600, 1e-7, 2e21, int64(-1), byte(0))
	f.Add("\xff\xfe invalid \xc3", "é✓😀", int64(253402300800), int64(1), -86400, math.Inf(1), 0.0, int64(0), byte(1))
	f.Add("", "", int64(0), int64(0), 86399, math.NaN(), -1e-9, int64(math.MaxInt64), byte(2))
	f.Add("x", "y", int64(1e12), int64(999999999), -45*60, 123456789012345678901234.0, 1e20, int64(1), byte(1))
	f.Add("free-busy", "/users/x/calendar/getSchedule", int64(1764072000), int64(5), 0, 0.0, 3.5, int64(12), byte(6))
	f.Add("inbound", "Users/x/Events/y", int64(1764072000), int64(5), 0, 0.0, 3.5, int64(2), byte(8))
	f.Add("adele.vance@contoso.example", "/me/sendMail", int64(1764072000), int64(5), 0, 0.0, 3.5, int64(202), byte(16+2))
	f.Add("report.docx", "/drives/b!x/items/01AB/content", int64(1764072000), int64(5), 0, 0.0, 3.5, int64(1048576), byte(32+4))
	f.Fuzz(func(t *testing.T, text, path string, secs, nsec int64, zone int, f1, f2 float64, n int64, lists byte) {
		rec := fuzzRecord(text, path, secs, nsec, zone, f1, f2, n, lists)
		want, wantErr := json.Marshal(rec)
		got, at, err := appendRecord([]byte("prefix"), rec)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendRecord error %v; json.Marshal error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("appendRecord wrote\n%s\njson.Marshal writes\n%s", got[len("prefix"):], want)
		}
		if !bytes.HasSuffix(got[:at], hashField) {
			t.Fatalf("hash offset %d is not after %s: %q", at, hashField, got[:at])
		}
	})
}

// BenchmarkSeal is the cost of sealing a typical call's record.
func BenchmarkSeal(b *testing.B) {
	rec := fuzzRecord("engage-eu", "/users/adelev@contoso.example/calendar/getSchedule", 1764072000, 123456789, 0, 0, 41.25, 1024, 2)
	c := chain{replica: "graph-proxy--r1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.seal(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterSink is the cost of a group commit of 16 typical lines
// to standard output (here discarded).
func BenchmarkWriterSink(b *testing.B) {
	c := chain{replica: "graph-proxy--r1"}
	var lines [][]byte
	for range 16 {
		line, err := c.seal(fuzzRecord("engage-eu", "/users/adelev@contoso.example/events", 1764072000, 123456789, 0, 0, 41.25, 1024, 2))
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, line)
	}
	s := &WriterSink{SinkName: "stdout", W: io.Discard}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(b.Context(), lines); err != nil {
			b.Fatal(err)
		}
	}
}
