package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// text is a string taken from a record, made safe to show: only clean
// makes one. html/template escapes it like any string; clean adds what
// escaping does not do.
type text string

// maxText bounds a string shown: a record's path or reason can be long,
// and a hostile one longer.
const maxText = 512

// clean returns s as shown to the auditor: control characters and
// invisible formatting characters (bidi overrides and isolates, zero-width
// characters) written as \u escapes, since they could make a caller name
// or a path read as something else (Trojan Source); at most maxText
// characters, saying how many more there were.
func clean(s string) text {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == maxText {
			fmt.Fprintf(&b, "… (%d more characters)", utf8.RuneCountInString(s[i:]))
			break
		}
		n++
		switch {
		case r == utf8.RuneError:
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return text(b.String())
}

// cleanList joins up to limit of names, saying how many more there are.
func cleanList(names []string, limit int) text {
	var out []string
	for i, n := range names {
		if i == limit {
			out = append(out, fmt.Sprintf("and %d more", len(names)-limit))
			break
		}
		out = append(out, string(clean(n)))
	}
	return text(strings.Join(out, ", "))
}

// Time formats, all UTC.
const (
	stampLayout  = "2006-01-02 15:04:05Z"
	millisLayout = "2006-01-02 15:04:05.000Z"
)

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// span says how long d is, to the minute.
func span(d time.Duration) string {
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, plural(days, "day"))
	}
	if hours > 0 {
		parts = append(parts, plural(hours, "hour"))
	}
	if mins > 0 || len(parts) == 0 {
		parts = append(parts, plural(mins, "minute"))
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return groupDigits(n) + " " + unit + "s"
}

// groupDigits writes n with thousands separators: 12,345.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ms formats milliseconds: one decimal under 100, none above.
func ms(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return groupDigits(int(v + 0.5))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// set is a set of strings, listed sorted.
type set map[string]struct{}

func (s set) add(v string) {
	if v != "" {
		s[v] = struct{}{}
	}
}

func (s set) sorted() []string { return sortedKeys(s) }
