package auditlog_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

func ExampleLog() {
	var out strings.Builder
	l, _ := auditlog.New(auditlog.Options{Replica: "graph-proxy--r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "stdout", W: &out}}})
	// The chain starts with its genesis record (seq 0)...
	l.Record(&auditlog.Record{Kind: "genesis", ProxyVersion: "v1.0.0"})
	// ...room is reserved before the call is acted on...
	ticket, err := l.Reserve(1)
	if err != nil {
		fmt.Println("refuse the call with 503:", err)
		return
	}
	// ...and the record appended when the call ends.
	ticket.Append(&auditlog.Record{RequestID: "r1", Method: "GET", Version: "v1.0", Path: "/users", Decision: "allow", Status: 200})
	l.Close(context.Background(), &auditlog.Record{Kind: "close"})

	v := &auditlog.Verifier{}
	v.Add("stdout", strings.NewReader(out.String()))
	res, err := v.Done()
	if err != nil {
		fmt.Println("not verified:", err)
		return
	}
	c := res.Chains[0]
	fmt.Println(res.Records, c.Replicas, c.FirstSeq, c.LastSeq, c.HeadVerified, c.Closed)
	// Output: 3 [graph-proxy--r1] 0 2 true true
}
