package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/mediation"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// mediationWatch looks at the tenant, at start and every
// mediation.interval, for Graph access the policy's callers' applications
// hold of their own; nil when mediation.interval is 0. Each result is an
// audit record (kind mediation), a log line when it is not clean, and the
// graph_proxy.mediation.findings metric.
func mediationWatch(cfg config.Config, graphURL *url.URL, transport http.RoundTripper, tokens upstream.TokenSource,
	store *policy.Store, audit *auditlog.Log, tel *telemetry.Telemetry, log *slog.Logger) (*mediation.Watch, error) {
	if cfg.Mediation.Interval == 0 {
		return nil, nil
	}
	w := &mediation.Watch{
		Checker:  &mediation.Checker{Graph: graphURL, Client: &http.Client{Transport: transport, Timeout: time.Minute}, Tokens: tokens},
		Apps:     func() []policy.CallerApp { return store.Policy().CallerApps() },
		Interval: cfg.Mediation.Interval,
	}
	w.Report = func(rep mediation.Report, err error) {
		result, summary := mediation.Result(rep, err), mediation.Summary(rep, err)
		// The check's Graph requests carried this client-request-id: in
		// Graph's activity log they are the proxy's own (audit reconcile).
		rec := &auditlog.Record{Time: time.Now().UTC(), Kind: "mediation", Decision: result, Reason: summary, ClientRequestID: rep.ClientRequestID}
		if err != nil {
			rec.Error = err.Error()
		}
		if aerr := audit.Record(rec); aerr != nil {
			log.Warn("mediation check not audited", "error", aerr)
		}
		switch result {
		case "bypass":
			for _, f := range rep.Findings {
				log.Error("a caller's application can call Graph without the proxy", "caller", f.Caller, "appId", f.AppID,
					"kind", f.Kind, "permission", f.Permission, "remove", f.Remove)
			}
		case "unknown":
			log.Warn("mediation check: could not look", "error", err)
		}
	}
	err := tel.Gauge("graph_proxy.mediation.findings",
		"Graph permissions and grants the callers' applications hold of their own in the tenant (ways around the proxy); -1 when not known.", w.Findings)
	return w, err
}

// mediationRole is the application permission the mediation check reads
// the tenant with.
const mediationRole = "Directory.Read.All"

// checkMediation is check's look for ways around the proxy: a failing step
// per Graph permission or grant a caller's application holds of its own,
// with the command that removes it; a warning when the identity may not
// look.
func checkMediation(ctx context.Context, rep *checkReport, add func(string, time.Duration, error, string), graphURL *url.URL,
	client *http.Client, token string, pol *policy.Policy) {
	start := time.Now()
	c := &mediation.Checker{Graph: graphURL, Client: client, Tokens: fixedToken(token)}
	res, err := c.Check(ctx, pol.CallerApps())
	switch {
	case errors.Is(err, mediation.ErrCannotRead):
		rep.Warnings = append(rep.Warnings, "ways around the proxy not checked: "+err.Error())
	case err != nil:
		add("mediation: the callers' applications' own Graph access", time.Since(start), err, "")
	case len(res.Findings) == 0:
		add(fmt.Sprintf("mediation: %d caller application(s) hold no Graph access of their own", res.Apps), time.Since(start), nil, "")
	}
	for _, f := range res.Findings {
		add("mediation: "+f.String(), time.Since(start), errors.New("a way around the proxy: the vendor can call Graph directly, outside the policy and the audit log"),
			"remove it (Microsoft Graph PowerShell): "+f.Remove)
	}
}

// fixedToken is check's one Graph token as a token source.
type fixedToken string

func (t fixedToken) Token(context.Context) (upstream.Token, error) {
	return upstream.Token{Value: string(t)}, nil
}
