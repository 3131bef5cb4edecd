package didyoumean

import "testing"

func TestNearest(t *testing.T) {
	cands := []string{"graph.cloud", "graph.timeout", "Calendars.ReadWrite"}
	tests := []struct {
		in, want string
	}{
		{"graph.clod", "graph.cloud"},
		{"GRAPH.TIMEOT", "graph.timeout"},
		{"Calendar.ReadWrite", "Calendars.ReadWrite"},
		{"something.else.entirely", ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.in, cands, 4); got != tt.want {
			t.Errorf("Nearest(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d; want 3", d)
	}
}
