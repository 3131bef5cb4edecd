package policy

// The reference for the spans jsonParser records (FuzzWalkRaw): a body's
// objects and lists found in a pass of their own, as rawBody was built
// before the parser recorded them.

// newRawBody finds the ends of b's objects and lists in one pass. b must
// be a body the strict parser accepted.
func newRawBody(b []byte) *rawBody {
	r := &rawBody{}
	r.init(b)
	return r
}

// init is newRawBody into r.
func (r *rawBody) init(b []byte) {
	r.b, r.spans = b, make([]rawSpan, 0, 16)
	var stack [maxJSONDepth + 1]int
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = r.stringEnd(i) - 1
		case '{', '[':
			if depth < len(stack) {
				stack[depth] = len(r.spans)
			}
			depth++
			r.spans = append(r.spans, rawSpan{open: i})
		case '}', ']':
			depth--
			if depth >= 0 && depth < len(stack) {
				r.spans[stack[depth]].close = i
			}
		}
	}
}
