package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// served is a server and its listener.
type served struct {
	srv *http.Server
	ln  net.Listener
}

// runServers serves until ctx ends, then drains in-flight requests for at
// most grace. background tasks run alongside and stop with them.
func runServers(ctx context.Context, servers []*served, grace time.Duration, log *slog.Logger, background ...func(context.Context)) error {
	g, gctx := errgroup.WithContext(ctx)
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	for _, task := range background {
		go task(bgCtx)
	}
	// The requests' contexts derive from base: past the grace period they
	// are cancelled with proxy.ErrShutdown as the cause, so that a call cut
	// then is recorded as the shutdown's doing, not as its caller gone.
	base, cut := context.WithCancelCause(context.Background())
	defer cut(nil)
	for _, s := range servers {
		s.srv.BaseContext = func(net.Listener) context.Context { return base }
		g.Go(func() error {
			log.Info("serving", "addr", s.ln.Addr().String(), "tls", s.srv.TLSConfig != nil)
			err := s.srv.Serve(s.ln) // a TLS server's listener is TLS already
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			if err := s.srv.Shutdown(sctx); err != nil {
				// Past the grace period: cut what is left. Close does not
				// wait for the handlers; the audit log's Close waits,
				// bounded, for the records they have room reserved for.
				cut(proxy.ErrShutdown)
				s.srv.Close()
				return fmt.Errorf("shutdown: %w", err)
			}
			return nil
		})
	}
	<-gctx.Done()
	log.Info("shutting down", "grace", grace.String())
	return g.Wait()
}

// adminServer serves /metrics, /status and, when enabled, /debug/pprof.
func adminServer(tel *telemetry.Telemetry, status func() any, withPprof bool, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(status())
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// auditMetrics exposes the audit pipeline's queue and failures.
func auditMetrics(tel *telemetry.Telemetry, audit *auditlog.Log) error {
	failed := func() int64 {
		var n uint64
		for _, s := range audit.Stats().Sinks {
			n += s.Failed
		}
		return int64(n)
	}
	return errors.Join(
		tel.Gauge("graph_proxy.audit.queue", "Audit records accepted and not yet written.", func() int64 { return int64(audit.Stats().Queued) }),
		tel.Counter("graph_proxy.audit.rejected", "Calls refused because the audit log could not take their records.", func() int64 { return int64(audit.Stats().Rejected) }),
		tel.Counter("graph_proxy.audit.sink_failures", "Records a sink gave up on while another sink took them.", failed),
		tel.Counter("graph_proxy.audit.checkpoints_signed", "Chain heads signed by the checkpoint key.", func() int64 {
			if cp := audit.Stats().Checkpoints; cp != nil {
				return int64(cp.Signed)
			}
			return 0
		}),
		tel.Counter("graph_proxy.audit.checkpoint_failures", "Chain heads the checkpoint key could not sign (Key Vault unreachable, a role missing).", func() int64 {
			if cp := audit.Stats().Checkpoints; cp != nil {
				return int64(cp.Failed)
			}
			return 0
		}),
	)
}
