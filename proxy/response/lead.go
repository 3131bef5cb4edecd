package response

// Lead reads the start of a JSON string value, raw and a byte at a time,
// for whether the value may begin with an absolute URL: a scheme and its
// colon, or two slashes, after leading spaces. A value that cannot is
// passed as it comes; one that may is held whole and judged by
// Links.Credential. Escapes are not decoded here: a backslash before the
// verdict holds the value (the judge decodes it), so a byte costs one
// step and a value's start is read once, however it arrives.
type Lead uint8

const (
	// LeadStart is before the value's first byte, or its leading spaces.
	LeadStart Lead = iota
	leadScheme
	leadSlash
	// LeadURL: the value may begin with an absolute URL.
	LeadURL
	// LeadText: it does not.
	LeadText
)

// Step takes the value's next raw byte (never its closing quote).
func (l Lead) Step(c byte) Lead {
	if c == '\\' && l < LeadURL {
		return LeadURL
	}
	switch l {
	case LeadStart:
		switch {
		case c == ' ':
			return LeadStart
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			return leadScheme
		case c == '/':
			return leadSlash
		}
		return LeadText
	case leadScheme:
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
			return leadScheme
		case c == ':':
			return LeadURL
		}
		return LeadText
	case leadSlash:
		if c == '/' {
			return LeadURL
		}
		return LeadText
	}
	return l
}

// Open reports whether the verdict is still out.
func (l Lead) Open() bool { return l < LeadURL }
