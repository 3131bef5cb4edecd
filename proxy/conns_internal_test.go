package proxy

import "testing"

// TestConnRefusal: what a connection's close tells of a request the HTTP
// server refused without the handler, on a fresh connection (the server
// reports the request begun) and on a kept-alive one (since it went idle:
// the server's refusal and then its close_notify are two writes, a
// client's or an idle close leaves one; a second read deadline is the
// one for the next request's headers).
func TestConnRefusal(t *testing.T) {
	tests := []struct {
		name              string
		started, handled  int64
		idle              bool
		deadlines, writes int64
		timedOut          bool
		wantStatus        int
		wantRefused       bool
	}{
		{name: "fresh: never a byte", wantRefused: false},
		{name: "fresh: nothing in time", timedOut: true, wantStatus: 408, wantRefused: true},
		{name: "fresh: refused", started: 1, wantStatus: 400, wantRefused: true},
		{name: "fresh: unfinished", started: 1, timedOut: true, wantStatus: 408, wantRefused: true},
		{name: "served, closed in a request", started: 1, handled: 1},
		{name: "served, idle timeout", started: 1, handled: 1, idle: true, deadlines: 1, timedOut: true, writes: 1},
		{name: "served, closed by the client", started: 1, handled: 1, idle: true, deadlines: 1, writes: 1},
		{name: "served, then refused", started: 1, handled: 1, idle: true, deadlines: 3, writes: 2, wantStatus: 400, wantRefused: true},
		{name: "served, then unfinished", started: 1, handled: 1, idle: true, deadlines: 3, writes: 1, timedOut: true, wantStatus: 408, wantRefused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c connTrack
			c.started.Store(tt.started)
			c.handled.Store(tt.handled)
			c.idle.Store(tt.idle)
			c.idleDeadlines.Store(tt.deadlines)
			c.idleWrites.Store(tt.writes)
			c.timedOut.Store(tt.timedOut)
			status, refused := c.refusal()
			if refused != tt.wantRefused || status != tt.wantStatus {
				t.Errorf("refusal() = %d, %v; want %d, %v", status, refused, tt.wantStatus, tt.wantRefused)
			}
		})
	}
}
