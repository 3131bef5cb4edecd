package shared_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/limitertest"
	"github.com/graph-proxy/graph-proxy/internal/redistest"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

// BenchmarkAdmit is what limiting adds to one call: Enter, Acquire with
// one mailbox, release and leave, as the handler takes them, with this
// replica's local Limiter and with the shared one over Redis on loopback
// (TCP, no TLS). Besides ns/op (latency, one call after another) it
// reports cpu-ns/op, the proxy process's CPU time per call (user and
// system; Redis's own is another process's, on another machine in
// Azure), and the shared one's ratios to the local one, measured in the
// same run: x-local-latency and x-local-cpu.
//
//	go test -run '^$' -bench Admit -benchtime 3s ./proxy/shared
func BenchmarkAdmit(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	lim := policy.Limits{RPS: 1e9, Burst: 1 << 30, Concurrent: 1 << 20, MailboxConcurrent: 4, MailboxPer10Min: 10000}
	mailboxes := make([][]string, 1000)
	for i := range mailboxes {
		mailboxes[i] = []string{fmt.Sprintf("user%d@contoso.example", i)}
	}
	run := func(b *testing.B, l proxy.CallLimiter) (cpuPerOp float64) {
		before := cpu()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			end, err := limitertest.Admit(l, lim, 1, mailboxes[i%len(mailboxes)])
			if err != nil {
				b.Fatal(err)
			}
			end()
		}
		b.StopTimer()
		cpuPerOp = float64(cpu()-before) / float64(b.N)
		b.ReportMetric(cpuPerOp, "cpu-ns/op")
		return cpuPerOp
	}
	// The local sub-benchmark runs first, to the end: its last run (the
	// one reported) is the baseline of the shared one's ratios.
	var localNs, localCPU float64
	b.Run("local", func(b *testing.B) {
		localCPU = run(b, proxy.NewLimiter(nil))
		localNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("shared", func(b *testing.B) {
		r := newReplica(b, srv, shared.Options{Replica: "bench", Timeout: time.Second})
		cpuPerOp := run(b, r.limiter)
		if st := r.store.Status(); st.Mode != "shared" {
			b.Fatalf("the shared limiter fell back during the benchmark: %+v", st)
		}
		if localNs > 0 && localCPU > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/localNs, "x-local-latency")
			b.ReportMetric(cpuPerOp/localCPU, "x-local-cpu")
		}
	})
}

// cpu is the process's CPU time so far, user and system, in nanoseconds.
func cpu() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
