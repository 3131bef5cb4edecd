package policy

// How the parser keeps and compares object keys: the keys Graph's bodies
// carry often, kept as shared strings, and the comparison by which two
// keys of one object are the same key (Graph's binder ignores case).

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonKeys are keys Graph's bodies carry often (events, messages,
// schedules, recipients): a built object takes these strings rather than
// a copy of the key per object.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range strings.Fields(`subject body contentType content start end dateTime timeZone location
		displayName locationType attendees emailAddress address name type status response time organizer
		isOnlineMeeting onlineMeetingProvider transactionId isAllDay showAs importance sensitivity reminderMinutesBeforeStart
		isReminderOn categories recurrence schedules startTime endTime availabilityViewInterval message
		toRecipients ccRecipients bccRecipients replyTo from sender saveToSentItems id @odata.type`) {
		m[k] = k
	}
	return m
}()

// keyString is string(key), without a copy when the key is a common one.
func keyString(key []byte) string {
	if s, ok := commonKeys[string(key)]; ok {
		return s
	}
	return string(key)
}

// sameKey reports whether two keys are the same but for case: equal under
// Unicode simple folding (strings.EqualFold) or once lowered
// (strings.ToLower, which also joins U+0130 and i).
func sameKey(a, b []byte) bool {
	// While both are ASCII, two bytes match only as themselves or as the
	// two cases of a letter (the other members of a letter's orbit, the
	// Kelvin sign and long s, are not ASCII and are left to the rune loop).
	i := 0
	for ; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca|cb >= utf8.RuneSelf {
			break
		}
		if ca != cb && (ca|0x20 != cb|0x20 || ca|0x20 < 'a' || ca|0x20 > 'z') {
			return false
		}
	}
	return sameKeyRunes(a[i:], b[i:])
}

// sameKeyRunes is sameKey rune by rune, the way for what follows an ASCII
// prefix (and FuzzSameKey's reference for the whole).
func sameKeyRunes(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if !sameRune(ra, rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// foldKey is a form keys equal under sameKey share: each rune lowered, then
// replaced by the smallest rune of its case-folding orbit.
func foldKey(s []byte) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest of an ASCII letter's orbit is its upper case (the
		// orbits of k and s hold the Kelvin sign and long s, larger).
		var b strings.Builder
		b.Grow(len(s))
		for _, c := range s {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	out := make([]byte, 0, len(s))
	for _, r := range string(s) {
		r = unicode.ToLower(r)
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = utf8.AppendRune(out, least)
	}
	return string(out)
}

func sameRune(a, b rune) bool {
	if a == b || unicode.ToLower(a) == unicode.ToLower(b) {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
