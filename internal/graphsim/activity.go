package graphsim

import (
	"net/http"
	"strconv"
	"time"
)

// statusRecorder notes the status Graph answered a recorded request with;
// ServeHTTP copies it into the request's record once answered. (Not here:
// handlers write their answers holding the Graph's lock.)
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
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
