package filelink

import "testing"

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in   string
		want Range
		ok   bool
	}{
		{in: "bytes 0-327679/1048576", want: Range{0, 327679, 1048576}, ok: true},
		{in: "bytes 5-5/6", want: Range{5, 5, 6}, ok: true},
		{in: "bytes 0-0/1", want: Range{0, 0, 1}, ok: true},
		{in: "bytes 5-6/6"},
		{in: "bytes 6-5/10"},
		{in: "bytes 0-1/*"},
		{in: "bytes */10"},
		{in: "bytes  0-1/10"},
		{in: "bytes 0-1/10 "},
		{in: "bytes +0-1/10"},
		{in: "bytes 0-1/10,2-3/10"},
		{in: "Bytes 0-1/10"},
		{in: "bytes 0-1"},
		{in: "bytes 0-9999999999999999999/99999999999999999999"},
		{in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseContentRange(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
			if ok && got.String() != tt.in {
				t.Errorf("String() = %q; want %q", got.String(), tt.in)
			}
		})
	}
}

// FuzzParseContentRange: a range read is one that writes out again to
// the same header, and holds First <= Last < Total.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-327679/1048576", "bytes 5-5/6", "bytes */10", "bytes 0-1/10 ", "bytes 00-1/10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, ok := ParseContentRange(in)
		if !ok {
			return
		}
		if r.First < 0 || r.First > r.Last || r.Last >= r.Total || r.Len() <= 0 {
			t.Fatalf("%q read as %+v", in, r)
		}
		if again, ok := ParseContentRange(r.String()); !ok || again != r {
			t.Fatalf("%q read as %+v, written out as %q, read again as %+v", in, r, r.String(), again)
		}
	})
}
