package response

import (
	"hash"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// unquoter decodes a JSON string's contents as they arrive in pieces,
// exactly as encoding/json does: escapes decoded, a surrogate pair joined,
// a lone surrogate and each byte of invalid UTF-8 replaced by U+FFFD. The
// tokenizer has checked the escapes; a pseudonym is the same whatever
// escaping Graph chose, and whatever reads split the value.
type unquoter struct {
	h    hash.Hash // where decoded bytes go; nil: buf
	buf  []byte
	esc  int  // 0, 1 after a backslash, 2 to 5 in \uXXXX
	hex  rune // the \u escape so far
	sur  rune // a surrogate waiting for its pair, or -1
	utf  [utf8.UTFMax]byte
	nutf int // bytes of an unfinished UTF-8 sequence
	rb   [utf8.UTFMax]byte
}

func (u *unquoter) reset(h hash.Hash) {
	u.h, u.buf, u.esc, u.sur, u.nutf = h, u.buf[:0], 0, -1, 0
}

func (u *unquoter) emit(b []byte) {
	if u.h != nil {
		u.h.Write(b)
		return
	}
	u.buf = append(u.buf, b...)
}

func (u *unquoter) emitRune(r rune) {
	n := utf8.EncodeRune(u.rb[:], r)
	u.emit(u.rb[:n])
}

var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// write decodes the next piece of the contents.
func (u *unquoter) write(b []byte) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case u.esc == 1 && c == 'u':
			u.esc, u.hex = 2, 0
		case u.esc == 1:
			u.esc = 0
			u.flushSurrogate()
			u.emit(simpleEscapes[c : int(c)+1])
		case u.esc >= 2:
			u.hex = u.hex<<4 | rune(HexValue(c))
			if u.esc++; u.esc == 6 {
				u.esc = 0
				u.escaped(u.hex)
			}
		case c == '\\':
			u.flushUTF()
			u.esc = 1
		default:
			u.flushSurrogate()
			if c < utf8.RuneSelf && u.nutf == 0 {
				j := i + 1
				for j < len(b) && b[j] < utf8.RuneSelf && b[j] != '\\' {
					j++
				}
				u.emit(b[i:j])
				i = j - 1
				continue
			}
			u.utf[u.nutf] = c
			u.nutf++
			u.decodeUTF(false)
		}
	}
}

// escaped takes a \uXXXX escape's rune.
func (u *unquoter) escaped(r rune) {
	if u.sur >= 0 {
		if d := utf16.DecodeRune(u.sur, r); d != utf8.RuneError {
			u.sur = -1
			u.emitRune(d)
			return
		}
		u.flushSurrogate()
	}
	if utf16.IsSurrogate(r) {
		u.sur = r
		return
	}
	u.emitRune(r)
}

func (u *unquoter) flushSurrogate() {
	if u.sur >= 0 {
		u.sur = -1
		u.emitRune(utf8.RuneError)
	}
}

// decodeUTF writes the complete runes of the pending UTF-8 bytes; at the
// end (final) the rest too, each byte of it invalid.
func (u *unquoter) decodeUTF(final bool) {
	for u.nutf > 0 && (final || utf8.FullRune(u.utf[:u.nutf])) {
		r, size := utf8.DecodeRune(u.utf[:u.nutf])
		if r == utf8.RuneError && size == 1 {
			u.emitRune(utf8.RuneError)
		} else {
			u.emit(u.utf[:size])
		}
		copy(u.utf[:], u.utf[size:u.nutf])
		u.nutf -= size
	}
}

func (u *unquoter) flushUTF() { u.decodeUTF(true) }

// end finishes the string.
func (u *unquoter) end() {
	u.flushUTF()
	u.flushSurrogate()
}

// unquote appends the decoded contents raw to dst.
func unquote(dst, raw []byte) []byte {
	var u unquoter
	u.reset(nil)
	u.buf = dst
	u.write(raw)
	u.end()
	return u.buf
}

func lowerID(b []byte) string { return strings.ToLower(string(b)) }
