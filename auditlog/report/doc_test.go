package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/auditlog/report"
)

func ExampleBuild() {
	// An audit file, as the proxy's file sink writes it.
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	f, _ := os.Create(path)
	l, _ := auditlog.New(auditlog.Options{Replica: "graph-proxy--r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "file", W: f}}})
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	l.Record(&auditlog.Record{Time: at, Kind: "genesis", ProxyVersion: "v1.4.0"})
	l.Record(&auditlog.Record{Time: at.Add(time.Second), RequestID: "r1", Caller: auditlog.Caller{Name: "engage"},
		Method: "GET", Version: "v1.0", Path: "/users", Decision: "allow", Status: 200})
	l.Close(context.Background(), &auditlog.Record{Time: at.Add(time.Minute), Kind: "close"})
	f.Close()

	// Read and verify it, as `audit verify` does; aggregate; write the page.
	records, ver, err := report.Load([]string{path}, report.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var page strings.Builder
	if err := report.Build(records, ver, report.Options{Title: "Contoso: Graph access"}).WriteHTML(&page); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ver.Intact(), len(records), strings.Contains(page.String(), "Chains verified: 3 records in 1 chain, intact"))
	// Output: true 3 true
}
