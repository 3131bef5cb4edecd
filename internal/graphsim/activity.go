package graphsim

import (
	"net/http"
	"strconv"
	"time"
)

// statusRecorder notes the status Graph answered a recorded request with.
type statusRecorder struct {
	http.ResponseWriter
	g    *Graph
	idx  int
	done bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.done && code >= 200 {
		s.done = true
		s.g.mu.Lock()
		s.g.recorded[s.idx].Status = code
		s.g.mu.Unlock()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.done {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() { http.NewResponseController(s.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// appOf is the application a validated token names (v1 appid, v2 azp).
func appOf(claims map[string]any) string {
	if a, _ := claims["appid"].(string); a != "" {
		return a
	}
	a, _ := claims["azp"].(string)
	return a
}

// ActivityLog is Microsoft Graph's activity log as Log Analytics holds it
// (the MicrosoftGraphActivityLogs table), one row per request Graph
// received until delay before now: Graph's log reaches the workspace
// late, so the newest requests are not in it yet. Each row has the
// table's columns as az monitor log-analytics query -o json prints them:
// every value a string.
func (g *Graph) ActivityLog(now time.Time, delay time.Duration) []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var rows []map[string]string
	for _, r := range g.recorded {
		if r.Batch || r.At.IsZero() || r.At.After(now.Add(-delay)) {
			continue
		}
		uri := g.URL + r.Path
		if r.RawQuery != "" {
			uri += "?" + r.RawQuery
		}
		rows = append(rows, map[string]string{
			"TableName":          "PrimaryResult",
			"TimeGenerated":      r.At.Format(time.RFC3339Nano),
			"AppId":              r.AppID,
			"ClientRequestId":    r.Header.Get("client-request-id"),
			"RequestId":          r.RequestID,
			"RequestMethod":      r.Method,
			"RequestUri":         uri,
			"ResponseStatusCode": itoa(r.Status),
			"IPAddress":          "127.0.0.1",
			"UserAgent":          r.Header.Get("User-Agent"),
		})
	}
	return rows
}

// itoa is a status as the CLI prints a long: None for a null.
func itoa(n int) string {
	if n == 0 {
		return "None"
	}
	return strconv.Itoa(n)
}
