package response

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// strBytes takes a piece of a string's contents, escapes and all.
func (f *Filter) strBytes(b []byte) {
	switch f.sink {
	case sinkOut:
		f.out = append(f.out, b...)
	case sinkKey:
		if len(f.key)+len(b) > MaxKeyBytes {
			f.unfilterable("a member name longer than %d bytes", MaxKeyBytes)
			return
		}
		f.key = append(f.key, b...)
	case sinkHold:
		f.val = append(f.val, b...)
		if f.linkK == BodyLink {
			if len(f.val) < BodySniff {
				return
			}
			if f.o.Links.Body(f.val, false) {
				f.sink = sinkDiscard
				return
			}
			// No JSON at its start: read on as any other string.
			f.linkK, f.lead = CredentialLink, LeadStart.Steps(f.val)
			b = nil
		}
		if f.linkK == CredentialLink && f.lead.Open() {
			if f.lead = f.lead.Steps(b); f.lead == LeadText {
				// No URL at its start: the value goes out as it comes.
				f.out = append(f.out, '"')
				f.out = append(f.out, f.val...)
				f.sink = sinkOut
				return
			}
		}
		if len(f.val) > maxLinkBytes {
			// Too long to be a link the rewriter knows: a paging link
			// passes as it is; an external one is withheld however long,
			// a header value unless its start shows it relative.
			if f.linkK == ExternalLink || f.linkK >= HeaderLink && f.headerWithheld(f.val[:maxLinkBytes+1], false) ||
				f.linkK == CredentialLink && f.o.Links.Credential(f.val[:maxLinkBytes+1], false) {
				f.sink = sinkDiscard
			} else {
				f.out = append(f.out, '"')
				f.out = append(f.out, f.val...)
				f.sink = sinkOut
			}
		}
	case sinkHash:
		f.unq.write(b)
	case sinkCapture:
		f.out = append(f.out, b...)
		f.capture = appendBounded(f.capture, b)
	case sinkControl:
		if f.ctlLong = f.ctlLong || len(f.val)+len(b) > maxLinkBytes; !f.ctlLong {
			f.val = append(f.val, b...)
		}
	}
}

// headerWithheld reports whether a header value's contents raw are
// withheld (Links.Header).
func (f *Filter) headerWithheld(raw []byte, complete bool) bool {
	_, withheld := f.o.Links.Header(nil, raw, complete, f.linkK == SectionHeaderLink)
	return withheld
}

// appendBounded appends b to dst as far as maxCapture and one byte more,
// enough to tell a capture that is too long.
func appendBounded(dst, b []byte) []byte {
	if room := maxCapture + 1 - len(dst); room < len(b) {
		b = b[:max(room, 0)]
	}
	return append(dst, b...)
}

// endString ends a string at its closing quote.
func (f *Filter) endString() {
	switch f.sink {
	case sinkKey:
		f.name = f.decodeKey()
		f.st = stColon
		return
	case sinkOut:
		f.out = append(f.out, '"')
	case sinkHold:
		f.out = append(f.out, '"')
		if f.linkK >= HeaderLink {
			out, withheld := f.o.Links.Header(f.out, f.val, true, f.linkK == SectionHeaderLink)
			f.out = out
			if withheld {
				f.withheld()
			}
		} else if f.linkK == BodyLink {
			if f.o.Links.Body(f.val, true) || f.o.Links.Credential(f.val, true) {
				f.withheld()
			} else {
				f.out = append(f.out, f.val...)
			}
		} else if f.linkK == CredentialLink {
			// Ended before the scheme's colon or the slashes: no URL.
			if !f.lead.Open() && f.o.Links.Credential(f.val, true) {
				f.withheld()
			} else {
				f.out = append(f.out, f.val...)
			}
		} else if out, ok := f.o.Links.Rewrite(f.out, f.val); ok {
			f.out = out
		} else if f.linkK == ExternalLink {
			f.withheld()
		} else {
			f.out = append(f.out, f.val...)
		}
		f.out = append(f.out, '"')
	case sinkDiscard:
		f.out = append(f.out, '"', '"')
		f.withheld()
	case sinkHash:
		f.unq.end()
		f.endHash()
	case sinkCapture:
		f.out = append(f.out, '"')
		f.endCapture()
	case sinkControl:
		f.endControl()
	}
	f.st = stAfter
}

// scalarBytes takes a piece of a number or a literal.
func (f *Filter) scalarBytes(b []byte) {
	switch f.scalarBy {
	case sinkOut:
		f.out = append(f.out, b...)
	case sinkHash:
		if f.mac != nil {
			f.mac.Write(b)
		}
	case sinkCapture:
		f.out = append(f.out, b...)
		f.capture = appendBounded(f.capture, b)
	}
}

// endScalar ends a number or a literal.
func (f *Filter) endScalar() {
	switch f.scalarBy {
	case sinkHash:
		f.endHash()
	case sinkCapture:
		f.endCapture()
	}
	f.st = stAfter
}

// numByte advances the number by c, and reports whether c is part of it.
func (f *Filter) numByte(c byte) bool {
	digit := '0' <= c && c <= '9'
	switch f.num {
	case numSign:
		switch {
		case c == '0':
			f.num = numZero
		case digit:
			f.num = numInt
		default:
			return false
		}
	case numZero, numInt, numFrac:
		switch {
		case digit && f.num != numZero:
		case c == '.' && f.num != numFrac:
			f.num = numDot
		case c == 'e' || c == 'E':
			f.num = numE
		default:
			return false
		}
	case numDot:
		if !digit {
			return false
		}
		f.num = numFrac
	case numE:
		switch {
		case c == '+' || c == '-':
			f.num = numESign
		case digit:
			f.num = numExp
		default:
			return false
		}
	case numESign, numExp:
		if !digit {
			return false
		}
		f.num = numExp
	}
	return true
}

// numEnds reports whether the number may end here.
func (f *Filter) numEnds() bool {
	return f.num == numZero || f.num == numInt || f.num == numFrac || f.num == numExp
}

// startHash begins a pseudonym: HMAC-SHA256 under the key of the value's
// kind ('s' a string, decoded; 'n' a number, 'b' true or false, as
// written) and the value.
func (f *Filter) startHash() {
	if len(f.o.Key) == 0 {
		f.unfilterable("a value to pseudonymise, and no pseudonym key")
		return
	}
	if f.mac == nil {
		f.mac = hmac.New(sha256.New, f.o.Key)
	}
	f.mac.Reset()
	f.one[0] = f.tag
	f.mac.Write(f.one[:])
	if f.tag == 's' {
		f.unq.reset(f.mac)
	}
}

// endHash writes the pseudonym: the HMAC in unpadded base64url, a JSON
// string of 43 characters.
func (f *Filter) endHash() {
	if f.mac == nil {
		return
	}
	f.out = append(f.out, '"')
	f.out = base64.RawURLEncoding.AppendEncode(f.out, f.mac.Sum(f.sumBuf[:0]))
	f.out = append(f.out, '"')
	f.pseudonymised()
}

// Pseudonym is the pseudonym the filter writes for a string value under
// key: the customer can compute a person's pseudonym, the vendor cannot.
func Pseudonym(key []byte, value string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte{'s'})
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// endCapture reads a sub-response's id (decoded, compared without case)
// or status (digits only).
func (f *Filter) endCapture() {
	c := f.capture
	switch f.capKind {
	case 'i':
		if len(c) <= maxCapture {
			f.sub.id, f.sub.idOK = lowerID(unquote(nil, c)), true
		}
	case 's':
		if n, err := strconv.Atoi(string(c)); err == nil && len(c) <= 9 && digitsOnly(c) {
			f.sub.status, f.sub.statusOK = n, true
		}
	}
	f.capKind = 0
}

func digitsOnly(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeKey is the member name decoded: the raw bytes themselves when they
// hold no escape and are valid UTF-8.
func (f *Filter) decodeKey() []byte {
	k := f.key
	plain := true
	for _, c := range k {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return k
	}
	f.keyDec = unquote(f.keyDec[:0], k)
	return f.keyDec
}

// HexValue is the value of the hexadecimal digit c, or -1 when c is not
// one: the digits of a JSON \uXXXX escape, here and in the proxy's link
// rewriter.
func HexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
