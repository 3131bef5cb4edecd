package graphsim

import (
	"net/http/httptest"
	"testing"
)

// TestInFlight: requests count against the mailbox their path names, by
// lower-case id or UPN, while they are answered; the peak stays until
// reset to what is in flight then.
func TestInFlight(t *testing.T) {
	g := &Graph{}
	tests := []struct {
		name    string
		path    string
		mailbox string // "" counts against none
	}{
		{name: "a user's events", path: "/v1.0/users/Adele@contoso.example/events", mailbox: "adele@contoso.example"},
		{name: "a user by escaped UPN", path: "/beta/users/adele%40contoso.example/calendar/getSchedule", mailbox: "adele@contoso.example"},
		{name: "the user itself", path: "/v1.0/users/10000000-0000-4000-8000-000000000000", mailbox: "10000000-0000-4000-8000-000000000000"},
		{name: "the users collection", path: "/v1.0/users"},
		{name: "a batch", path: "/v1.0/$batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.ResetPeakInFlight()
			r := httptest.NewRequest("GET", "http://graph.test"+tt.path, nil)
			end1, end2 := g.flights.track(r), g.flights.track(r)
			want := 0
			if tt.mailbox != "" {
				want = 2
			}
			if got := g.InFlight(tt.mailbox); tt.mailbox != "" && got != want {
				t.Errorf("in flight %d; want %d", got, want)
			}
			end1()
			end2()
			if got := g.PeakInFlight(tt.mailbox); tt.mailbox != "" && got != want {
				t.Errorf("peak %d after both ended; want %d", got, want)
			}
			g.ResetPeakInFlight()
			if got := g.PeakInFlight(tt.mailbox); got != 0 {
				t.Errorf("peak %d after a reset with nothing in flight; want 0", got)
			}
		})
	}
}
