package proxy

import "github.com/graph-proxy/graph-proxy/proxy/response"

// decodeJSONChar decodes one character of JSON string contents: a plain
// byte, or an escape (\/, \uXXXX, ...). n is 0 on a malformed escape.
func decodeJSONChar(b []byte) (r rune, n int) {
	if b[0] != '\\' {
		return rune(b[0]), 1
	}
	if len(b) < 2 {
		return 0, 0
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2
	case 'u':
		if len(b) < 6 {
			return 0, 0
		}
		var v rune
		for _, h := range b[2:6] {
			d := response.HexValue(h)
			if d < 0 {
				return 0, 0
			}
			v = v<<4 | rune(d)
		}
		return v, 6
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	default:
		return 0, 0
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
