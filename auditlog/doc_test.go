package auditlog_test

import (
	"os"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

func ExampleWriter() {
	w := auditlog.NewWriter(os.Stdout)
	w.Append(&auditlog.Record{RequestID: "r1", Method: "GET", Version: "v1.0", Path: "/users", Decision: "allow", Status: 200})
	// Output: {"time":"0001-01-01T00:00:00Z","replica":"","seq":0,"prev":"","hash":"","requestId":"r1","clientRequestId":"","graphRequestId":"","caller":{"name":"","tenantId":"","appId":"","auth":"","ip":""},"method":"GET","version":"v1.0","path":"/users","route":"","target":"","targets":null,"query":null,"rule":"","permission":"","decision":"allow","reason":"","status":200,"upstreamStatus":0,"retryAfter":0,"bytesIn":0,"bytesOut":0,"durationMs":0,"upstreamMs":0,"error":""}
}
