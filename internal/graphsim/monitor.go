package graphsim

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// MonitorResource is the audience of Logs Ingestion tokens.
const MonitorResource = "https://monitor.azure.com"

// Monitor is a data collection endpoint of the Logs Ingestion API: POST
// /dataCollectionRules/{rule}/streams/{stream}?api-version=2023-01-01 with a
// JSON array, gzip or plain. It checks the token and the rule, keeps what
// it accepts, and can be told to fail, to stall or to hang.
type Monitor struct {
	URL   string
	entra *Entra

	// RuleID is the data collection rule it accepts.
	RuleID string
	// Stream is the stream it accepts.
	Stream string

	mu       sync.Mutex
	rows     []json.RawMessage
	calls    int
	failures []monitorFault
	stall    chan struct{} // non-nil: requests wait until it is closed
	hanging  bool          // requests arriving now are never answered
	given    int           // hung requests their clients gave up on
}

type monitorFault struct {
	status     int
	retryAfter string
}

func newMonitor(url string, e *Entra) *Monitor {
	return &Monitor{URL: url, entra: e, RuleID: "dcr-00000000000000000000000000000001", Stream: "Custom-GraphProxyAudit"}
}

// FailNext makes the next n uploads fail with status (and Retry-After).
func (m *Monitor) FailNext(n, status int, retryAfter string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < n; i++ {
		m.failures = append(m.failures, monitorFault{status, retryAfter})
	}
}

// Heal drops the failures FailNext queued and not yet served.
func (m *Monitor) Heal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures = nil
}

// Stall holds every upload until Release.
func (m *Monitor) Stall() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stall == nil {
		m.stall = make(chan struct{})
	}
}

// Release lets stalled uploads through.
func (m *Monitor) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stall != nil {
		close(m.stall)
		m.stall = nil
	}
}

// Hang makes the endpoint accept uploads and never answer them, as a
// service that takes connections but is stuck behind them does: every
// upload that arrives until Answer is held, unread, until its client gives
// up, and nothing of it is kept. Unlike Stall, Answer does not let the
// held uploads through, so a client that stopped waiting for one can
// resend it without the rows arriving twice.
func (m *Monitor) Hang() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hanging = true
}

// Answer ends Hang for the uploads that arrive from now on.
func (m *Monitor) Answer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hanging = false
}

// GivenUp counts the uploads held by Hang whose clients gave up on them.
func (m *Monitor) GivenUp() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.given
}

// Rows returns the rows accepted so far, in order.
func (m *Monitor) Rows() []json.RawMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]json.RawMessage(nil), m.rows...)
}

// Calls counts upload attempts.
func (m *Monitor) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.calls++
	stall, hanging := m.stall, m.hanging
	m.mu.Unlock()
	if hanging {
		<-r.Context().Done()
		m.mu.Lock()
		m.given++
		m.mu.Unlock()
		return
	}
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	monitorError := func(status int, code, msg string) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 4 || parts[0] != "dataCollectionRules" || parts[2] != "streams" {
		monitorError(http.StatusNotFound, "NotFound", "No such endpoint.")
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		monitorError(http.StatusUnauthorized, "MissingToken", "The request has no bearer token.")
		return
	}
	if _, err := m.entra.Validate(raw, MonitorResource, MonitorResource+"/"); err != nil {
		monitorError(http.StatusUnauthorized, "InvalidToken", "The token is not valid for Azure Monitor.")
		return
	}
	if parts[1] != m.RuleID || parts[3] != m.Stream {
		monitorError(http.StatusNotFound, "InvalidDataFlow", "The data collection rule or stream does not exist.")
		return
	}
	m.mu.Lock()
	if len(m.failures) > 0 {
		f := m.failures[0]
		m.failures = m.failures[1:]
		m.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		monitorError(f.status, "Injected", "Injected failure.")
		return
	}
	m.mu.Unlock()
	var body io.Reader = http.MaxBytesReader(w, r.Body, 1<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			monitorError(http.StatusBadRequest, "InvalidContent", "Bad gzip body.")
			return
		}
		body = zr
	}
	var rows []json.RawMessage
	if err := json.NewDecoder(body).Decode(&rows); err != nil {
		monitorError(http.StatusBadRequest, "InvalidContent", "The body must be a JSON array of objects.")
		return
	}
	m.mu.Lock()
	m.rows = append(m.rows, rows...)
	m.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
