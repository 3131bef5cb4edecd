package proxy

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// Which answers a caller may read as JSON. The link rewriter and the
// response filter read JSON in UTF-8, as RFC 8259 has it; a caller's
// reader may read more: axios parses any body that is JSON whatever its
// Content-Type, others ignore the type, and many decode a declared
// charset, or tell UTF-16 and UTF-32 from a body's bytes (RFC 4627's
// rule, Python's requests). While links to other hosts are withheld, an
// answer labelled otherwise whose body reads as JSON is read as JSON
// (answerReadsAsJSON), and one labelled JSON under a charset other than
// UTF-8 is withheld (jsonCharsetOK); a JSON answer in UTF-16 or UTF-32
// without a charset has NUL bytes, which the rewriter refuses as it
// refuses any byte that breaks JSON's grammar (mayRewrite sends it
// there).

// errAnswerCharset: a JSON answer under a charset other than UTF-8, while
// links are withheld: the caller decodes bytes the rewriter did not read
// as they are meant.
var errAnswerCharset = fmt.Errorf("%w: a charset other than UTF-8, so its links cannot be checked", errAnswerUncheckable)

// jsonCharsetOK reports whether the Content-Type ct, a JSON one, names no
// charset or UTF-8's (US-ASCII, its subset, too). Graph labels its JSON
// "charset=utf-8".
func jsonCharsetOK(ct string) bool {
	_, params, _ := strings.Cut(ct, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "charset") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if !strings.EqualFold(value, "utf-8") && !strings.EqualFold(value, "utf8") && !strings.EqualFold(value, "us-ascii") {
			return false
		}
	}
	return true
}

// sniffLen is how much of an answer labelled other than JSON is looked
// at to tell whether it is JSON.
const sniffLen = 512

// answerReadsAsJSON reports whether the body of resp, an answer under a
// media type other than JSON's, reads as JSON to a reader that ignores
// the type: its first byte, past a byte order mark, JSON's blanks and
// NULs (UTF-16 and UTF-32 spell ASCII with them), opens an object, a
// list or a string. A body that is all such bytes as far as sniffLen is
// read as JSON too: what follows cannot be told. The bytes looked at are
// put back in front of resp.Body.
func answerReadsAsJSON(resp *http.Response) (bool, error) {
	br := bufio.NewReaderSize(resp.Body, sniffLen)
	resp.Body = prefixedBody{br, resp.Body}
	// A byte more at a time, up to the first that tells: an answer that
	// streams (an event stream) is not held back waiting for more.
	for n := 1; n <= sniffLen; n++ {
		b, err := br.Peek(n)
		if asJSON, decided := sniffJSON(b); decided {
			return asJSON, nil
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// sniffJSON reads the first bytes b of a body as a reader that tells JSON
// from its bytes does: past a byte order mark, JSON's blanks and NULs,
// the record separator of a JSON text sequence, the first byte opens an
// object, a list or a string (asJSON), or not;
// decided is false when b has no other byte.
func sniffJSON(b []byte) (asJSON, decided bool) {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n', 0, 0xef, 0xbb, 0xbf, 0xfe, 0xff, 0x1e: // 0x1e: a JSON text sequence's record separator (RFC 7464)
		case '{', '[', '"':
			return true, true
		default:
			return false, true
		}
	}
	return false, false
}

// bodyReadsAsJSON reports whether raw, the contents (escapes and all) of
// a $batch sub-response's body written as a string, or, complete false,
// its first bytes, reads as JSON: as it is (OData writes a text body so)
// or base64-decoded (any other body; Graph's for some JSON bodies too),
// which the SDKs decode and parse. A body whose start cannot tell (blank
// so far) counts as JSON unless it is complete. Base64 is read only when
// every character seen is of its alphabets or a line break, so that a
// text ("It is…") is not taken for it.
func bodyReadsAsJSON(raw []byte, complete bool) bool {
	if len(raw) >= response.BodySniff {
		// Judged by its start alone, however much of it was read.
		raw, complete = raw[:response.BodySniff], false
	}
	var text, enc [response.BodySniff]byte
	t, e, isB64 := text[:0], enc[:0], true
	for i := 0; i < len(raw) && len(t) <= len(text)-utf8.UTFMax; {
		r, n := decodeJSONChar(raw[i:])
		if n == 0 {
			break // malformed, or an escape cut at the window's end
		}
		i += n
		if n == 1 {
			t = append(t, byte(r))
		} else {
			t = utf8.AppendRune(t, r)
		}
		switch {
		case r == '\r' || r == '\n':
		case r < utf8.RuneSelf && base64Char[r]:
			e = append(e, byte(r))
		default:
			isB64 = false
		}
	}
	if asJSON, decided := sniffJSON(t); decided {
		if asJSON {
			return true
		}
		if !isB64 {
			return false
		}
		e = bytes.TrimRight(e, "=")
		e = e[:len(e)/4*4]
		dec := base64.RawStdEncoding
		if bytes.ContainsAny(e, "-_") {
			dec = base64.RawURLEncoding
		}
		var out [response.BodySniff]byte
		n, err := dec.Decode(out[:], e)
		if err != nil {
			return false
		}
		asJSON, decided = sniffJSON(out[:n])
		return asJSON || !decided && !complete
	}
	return !complete
}

// base64Char marks the characters of base64's alphabets, standard and
// URL-safe, padding included.
var base64Char = func() (m [utf8.RuneSelf]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=" {
		m[c] = true
	}
	return m
}()
