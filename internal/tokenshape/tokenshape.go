// Package tokenshape withholds what is shaped as a token from text the
// proxy writes down: an error's text in an audit record or a log line.
//
// Tokens never reach those places by design: the proxy's own are
// redacted where they are held (upstream.Token's String and LogValue),
// and a caller's Authorization header is never recorded. But an error's
// text is other code's: a library that quotes the answer it could not
// read, a token endpoint's truncated reply, a URL a service built. This
// is the net under all of them: a JSON Web Token (three or five base64url
// parts, the first of them a JSON object, so "eyJ") or a Bearer
// credential, wherever it stands, is replaced before the text is written.
package tokenshape

import (
	"log/slog"
	"strings"
)

// minBearer is the shortest credential read after "Bearer ": shorter,
// it is a word ("no bearer token"), not a credential.
const minBearer = 16

// Withheld stands in the text for a token taken out.
const Withheld = "[token withheld]"

// minJWT is the shortest run read as a JWT: a header of at least
// {"alg":"x"} and a payload, base64url-encoded, and a dot between them.
const minJWT = 20

// Withhold returns s with every JWT-shaped run and every Bearer
// credential replaced by Withheld. It returns s itself, allocating
// nothing, when there is none.
func Withhold(s string) string {
	if !strings.Contains(s, "eyJ") && !containsBearer(s) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if end := tokenAt(s, i); end > i {
			b.WriteString(s[last:i])
			b.WriteString(Withheld)
			i, last = end, end
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// tokenAt returns the end of a token starting at i, or i when none does.
func tokenAt(s string, i int) int {
	if strings.HasPrefix(s[i:], "eyJ") {
		// Wherever it starts: what comes before may be the rest of a
		// word the token was run into.
		end, dots := i, 0
		for end < len(s) && (isTokenByte(s[end]) || s[end] == '.') {
			if s[end] == '.' {
				dots++
			}
			end++
		}
		if dots >= 1 && end-i >= minJWT {
			return end
		}
		return i
	}
	if len(s)-i > len("bearer ") && strings.EqualFold(s[i:i+len("bearer")], "bearer") && (i == 0 || !isTokenByte(s[i-1])) {
		j := i + len("bearer")
		if s[j] != ' ' && s[j] != '\t' {
			return i
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		end := j
		for end < len(s) && s[end] > ' ' && s[end] != '"' && s[end] != ',' && s[end] < 0x7f {
			end++
		}
		if end-j >= minBearer {
			return end
		}
	}
	return i
}

func containsBearer(s string) bool {
	for i := 0; i+len("bearer") <= len(s); i++ {
		if s[i]|0x20 == 'b' && strings.EqualFold(s[i:i+len("bearer")], "bearer") {
			return true
		}
	}
	return false
}

// isTokenByte reports a base64url character.
func isTokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that withholds what is
// shaped as a token from a log line's message, strings and errors.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	var s string
	switch a.Value.Kind() {
	case slog.KindString:
		s = a.Value.String()
	case slog.KindAny:
		err, ok := a.Value.Any().(error)
		if !ok {
			return a
		}
		s = err.Error()
	default:
		return a
	}
	if w := Withhold(s); w != s {
		a.Value = slog.StringValue(w)
	}
	return a
}
