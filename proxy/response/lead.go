package response

// Lead reads the start of a JSON string value, raw and a byte at a time,
// for whether the value may be, or begin with, a URL that carries a
// credential: an absolute one (a scheme and its colon, or two slashes,
// after leading spaces), or a word (no space in it so far) whose query or
// fragment begins ('?', '#'), which may be a relative reference with a
// credential in its query. A value that cannot is passed as it comes;
// one that may is held whole and judged by Links.Credential. A value
// that ends, or whose first word ends, before either is passed. Escapes
// are not decoded here: a backslash before the verdict holds the value
// (the judge decodes it), so a byte costs one step and a value's start
// is read once, however it arrives.
type Lead uint8

// maxScheme bounds the scheme a URL may begin with: every scheme a
// pre-authenticated link comes under (https, and the few others
// registered) is far shorter, and a run of letters and digits longer
// than it (an id, a word) is a word, not a scheme.
const maxScheme = 32

const (
	// LeadStart is before the value's first byte, or its leading spaces.
	LeadStart Lead = iota
	leadSlash
	// leadWord: inside a first word that is no absolute URL's start.
	leadWord
	// leadScheme to leadScheme+maxScheme-1: inside a scheme of 1 to
	// maxScheme bytes.
	leadScheme
	// LeadURL: the value may be or begin with a URL with a credential.
	LeadURL Lead = leadScheme + maxScheme
	// LeadText: it does not.
	LeadText Lead = LeadURL + 1
)

// Step takes the value's next raw byte (never its closing quote).
func (l Lead) Step(c byte) Lead {
	if l >= LeadURL {
		return l
	}
	switch {
	case c == '\\' || c == '?' || c == '#':
		return LeadURL
	case c == ' ':
		if l == LeadStart {
			return LeadStart
		}
		return LeadText // a word ended: text, or a word without a query
	case l == LeadStart:
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			return leadScheme
		case c == '/':
			return leadSlash
		}
		return leadWord
	case l == leadSlash:
		if c == '/' {
			return LeadURL
		}
		return leadWord
	case l == leadWord:
		return leadWord
	}
	// In a scheme.
	switch {
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
		if l+1 == LeadURL {
			return leadWord // longer than any scheme
		}
		return l + 1
	case c == ':':
		return LeadURL
	}
	return leadWord
}

// Open reports whether the verdict is still out.
func (l Lead) Open() bool { return l < LeadURL }

// Text reports whether a value whose raw bytes after its opening quote
// begin b is certainly no URL: the verdict is LeadText, or the value's
// closing quote comes before a verdict. A b that ends before either
// says nothing (false): the value is read a byte at a time then. No quote
// is reached with the verdict out unless it closes the value: a
// backslash gives the verdict first.
func (l Lead) Text(b []byte) bool {
	for _, c := range b {
		if c == '"' {
			return l.Open()
		}
		if l = l.Step(c); !l.Open() {
			return l == LeadText
		}
	}
	return false
}

// Steps is l after the bytes b, read until the verdict.
func (l Lead) Steps(b []byte) Lead {
	for _, c := range b {
		if l = l.Step(c); !l.Open() {
			break
		}
	}
	return l
}
