package filelink

import "strconv"

// Range is one range of an upload session: bytes First through Last
// (inclusive) of a file of Total bytes.
type Range struct {
	First, Last, Total int64
}

// Len is the number of bytes in the range.
func (r Range) Len() int64 { return r.Last - r.First + 1 }

// String is the range as a Content-Range header value.
func (r Range) String() string {
	return "bytes " + strconv.FormatInt(r.First, 10) + "-" + strconv.FormatInt(r.Last, 10) + "/" + strconv.FormatInt(r.Total, 10)
}

// ParseContentRange reads a Content-Range as an upload session takes it,
// strictly: "bytes FIRST-LAST/TOTAL" in decimal digits only, with
// FIRST <= LAST < TOTAL. Anything else — spaces, signs, "*", a missing
// part, numbers beyond int64 — is refused (ok false), so that the proxy
// and the file host cannot read one header two ways.
func ParseContentRange(s string) (r Range, ok bool) {
	const prefix = "bytes "
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return Range{}, false
	}
	s = s[len(prefix):]
	var nums [3]int64
	for i := range nums {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 || j > 18 {
			return Range{}, false
		}
		nums[i], _ = strconv.ParseInt(s[:j], 10, 64)
		s = s[j:]
		sep := "-/"
		if i < 2 {
			if len(s) == 0 || s[0] != sep[i] {
				return Range{}, false
			}
			s = s[1:]
		}
	}
	r = Range{First: nums[0], Last: nums[1], Total: nums[2]}
	if s != "" || r.First > r.Last || r.Last >= r.Total {
		return Range{}, false
	}
	return r, true
}
