package proxy

import (
	"encoding/json"
	"net/http"
)

// ReadyCheck is one condition of readiness, such as "policy loaded" or
// "Graph token held".
type ReadyCheck struct {
	// Name identifies the check in /readyz answers and logs.
	Name string
	// Check returns nil when the condition holds.
	Check func() error
}

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every check passes, else 503. The answer names the
// failing checks but not their errors, which can carry internals (token
// endpoint messages); those go to the operator's log.
func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	status, checks := http.StatusOK, map[string]string{}
	for _, c := range h.o.Ready {
		if err := c.Check(); err != nil {
			status = http.StatusServiceUnavailable
			checks[c.Name] = "failing"
			h.log.Warn("not ready", "check", c.Name, "error", err)
			continue
		}
		checks[c.Name] = "ok"
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": checks})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
