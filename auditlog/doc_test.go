package auditlog_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

func ExampleLog() {
	var out strings.Builder
	l, _ := auditlog.New(auditlog.Options{Replica: "graph-proxy--r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "stdout", W: &out}}})
	// Room is reserved before the call is acted on...
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
	fmt.Fprintln(os.Stdout, res.Records, res.Chains, err)
	// Output: 2 map[graph-proxy--r1:1] <nil>
}
