package response

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/graph-proxy/graph-proxy/policy"
)

// MaxDepth bounds the nesting of an answer; a deeper one is unfilterable.
// Graph's answers nest a dozen levels at most.
const MaxDepth = 256

// MaxKeyBytes bounds a member name as written (escapes included); a
// longer one is unfilterable. Graph's property names are short.
const MaxKeyBytes = 64 << 10

// ErrUnfilterable is wrapped by every error the filter raises itself: the
// answer is not the JSON its response section expects, and the rest of it
// is withheld.
var ErrUnfilterable = errors.New("answer not filterable")

// LinkKind says what a string member is to the link rewriter.
type LinkKind uint8

const (
	// NotLink is any other member.
	NotLink LinkKind = iota
	// GraphLink is a paging or delta link: rewritten when it points at
	// Graph, left as it is otherwise.
	GraphLink
	// ExternalLink is a pre-authenticated link to another host (an upload
	// or download URL): rewritten when it points at Graph, withheld
	// (emptied) otherwise.
	ExternalLink
	// CredentialLink is a string under any other name while links to
	// other hosts are withheld: its start is read (Lead), and a value
	// that may begin with a URL is held whole and withheld when
	// Links.Credential says so.
	CredentialLink
	// BodyLink is a $batch sub-response's body written as a string (text,
	// or base64) while links to other hosts are withheld: its first
	// BodySniff bytes are held, and the body is withheld when Links.Body
	// says it reads as JSON; otherwise it is read on as a CredentialLink.
	BodyLink
	// HeaderLink is a string in a $batch sub-response's headers, whatever
	// its name and however deep in them, or one Links.Kind names so: as
	// Links.Header relays it. The filter gives it to headers.
	HeaderLink
	// SectionHeaderLink is a HeaderLink in the headers of a sub-response
	// whose body a section filters: Links.Header strict. The filter
	// gives it, never Links.Kind.
	SectionHeaderLink
)

// BodySniff is how much of a BodyLink is held before Links.Body judges it.
const BodySniff = 512

// LinkScope is what an object is to Links.Kind, as Links.Scope said of
// the member holding it: the same name may hold a link in one object
// and not in another (a sharing link's webUrl).
type LinkScope uint8

// Links rewrites the answer's links as the filter passes them: the same
// rewriting the proxy applies to answers without a response section.
type Links interface {
	// Scope says what a container held by the member named key
	// (decoded) is to Kind; a list's elements take the list's scope, the
	// answer's object and a $batch sub-response's body scope 0.
	Scope(key []byte) LinkScope
	// Kind says whether the member named key (decoded) holds a link, in
	// an object of scope; top says the object is the answer's own or a
	// $batch sub-response's body; list, that the member is a list, whose
	// strings (and its lists') the kind is then of.
	Kind(key []byte, scope LinkScope, top, list bool) LinkKind
	// Credential reports whether a CredentialLink's contents raw (escapes
	// and all; complete false, only the first maxLinkBytes+1 bytes of a
	// longer one) are withheld: a URL of another host that carries a
	// credential, or a value where that cannot be told.
	Credential(raw []byte, complete bool) bool
	// Body reports whether a BodyLink's contents raw (escapes and all;
	// complete false, only its first BodySniff bytes or more) read as
	// JSON, which the SDKs would parse: withheld.
	Body(raw []byte, complete bool) bool
	// Rewrite appends raw (a JSON string's contents, escapes and all)
	// moved to the proxy's public base, and reports whether raw pointed
	// at Graph.
	Rewrite(dst, raw []byte) ([]byte, bool)
	// Header appends a header value's contents raw as they are relayed
	// (URLs at Graph in it moved to the proxy's public base), and reports
	// whether the value is withheld instead: it holds a URL of another
	// host while such links are withheld. complete is false when raw is
	// only the first maxLinkBytes+1 bytes of a longer value; a verdict
	// they leave open must be withheld (fail closed). strict withholds
	// every value that is or holds a URL, Graph's and relative ones
	// included, whatever the links to other hosts.
	Header(dst, raw []byte, complete, strict bool) ([]byte, bool)
}

// Options say how to filter one answer.
type Options struct {
	// Response is the call's response section. Nil with Batch nil filters
	// nothing but the JSON itself, which must still be well-formed.
	Response *policy.Response
	// Status is Graph's status: from 400 an answer is an error, filtered
	// by policy.ErrorAnswer, whatever its section.
	Status int
	// Batch, when not nil, makes the answer a $batch answer: each
	// sub-response's body is filtered by the section of the sub-request
	// with its id (ids compared without case, as Graph does; a nil
	// section passes the body as it is). An id no sub-request has, or
	// one two sub-requests share with different sections, is
	// unfilterable.
	Batch map[string]*policy.Response
	// Key is the HMAC-SHA256 key of pseudonyms; required when a section
	// pseudonymises. A section that needs it without one is unfilterable.
	Key []byte
	// Links rewrites links; nil leaves them as they are.
	Links Links
}

// Counts are what the filter did to an answer, or to one $batch
// sub-response: for the audit record, never the values.
type Counts struct {
	// Removed counts members removed (a member counts once, whatever it
	// held) and list elements removed.
	Removed int
	// Pseudonymised counts values replaced by pseudonyms.
	Pseudonymised int
	// Withheld counts links to hosts other than Graph emptied.
	Withheld int
}

func (c *Counts) add(o Counts) {
	c.Removed += o.Removed
	c.Pseudonymised += o.Pseudonymised
	c.Withheld += o.Withheld
}

const chunk = 32 << 10

var (
	inPool  = sync.Pool{New: func() any { b := make([]byte, chunk); return &b }}
	outPool = sync.Pool{New: func() any { b := make([]byte, 0, 2*chunk); return &b }}
)

// Filter is an answer's body filtered: an io.ReadCloser reading src through
// the response section. Memory is bounded by a read chunk, the output of
// one chunk and the longest member name or link held.
type Filter struct {
	o     Options
	src   io.ReadCloser
	inp   *[]byte
	in    []byte // unread input, within *inp
	rerr  error  // the source's error, once its data is consumed
	outp  *[]byte
	out   []byte
	pos   int
	err   error
	limit int // output length at which scanning pauses

	// the batch's sections by lower-case id; ambiguous ids map to
	// ambiguousSection.
	subs    map[string]*policy.Response
	anySpec bool
	total   Counts
	cur     *Counts // the sub-response being filtered, if any
	perSub  map[string]*Counts

	mac    hash.Hash
	sumBuf [32]byte

	scanner
}

// ambiguousSection marks a batch id two sub-requests share.
var ambiguousSection = &policy.Response{}

// New returns the filter of src; Close closes src.
func New(src io.ReadCloser, o Options) *Filter {
	f := &Filter{o: o, src: src, inp: inPool.Get().(*[]byte), outp: outPool.Get().(*[]byte), limit: chunk}
	f.out = (*f.outp)[:0]
	if o.Batch != nil {
		f.subs = make(map[string]*policy.Response, len(o.Batch))
		f.perSub = make(map[string]*Counts, len(o.Batch))
		for id, s := range o.Batch {
			k := strings.ToLower(id)
			if prev, dup := f.subs[k]; dup && prev != s {
				s = ambiguousSection
			}
			f.subs[k] = s
			f.perSub[k] = &Counts{}
			f.anySpec = f.anySpec || s != nil
		}
	}
	f.scanner.init()
	return f
}

// Read reads the filtered answer. A filter error wraps ErrUnfilterable; the
// source's errors come through as they are.
func (f *Filter) Read(p []byte) (int, error) {
	for f.pos == len(f.out) {
		if f.err != nil {
			return 0, f.err
		}
		f.out, f.pos = f.out[:0], 0
		if len(f.in) == 0 && f.rerr == nil {
			n, err := f.src.Read(*f.inp)
			f.in, f.rerr = (*f.inp)[:n], err
		}
		f.scan()
		switch {
		case f.bad != nil:
			// What this round produced goes with the error: the caller's
			// answer is cut where the filter stopped vouching for it.
			f.out, f.err = f.out[:0], f.bad
		case len(f.in) == 0 && f.rerr == io.EOF:
			f.finish()
			if f.bad != nil {
				f.out = f.out[:0]
			}
			f.err = io.EOF
			if f.bad != nil {
				f.err = f.bad
			}
		case len(f.in) == 0 && f.rerr != nil:
			f.err = f.rerr
		}
	}
	n := copy(p, f.out[f.pos:])
	f.pos += n
	return n, nil
}

// Close closes the source and gives back the filter's buffers.
func (f *Filter) Close() error {
	if f.inp != nil {
		inPool.Put(f.inp)
		*f.outp = f.out[:0]
		outPool.Put(f.outp)
		f.inp, f.outp, f.in, f.out = nil, nil, nil, nil
		f.pos = 0
		if f.err == nil {
			f.err = io.ErrClosedPipe
		}
	}
	return f.src.Close()
}

// Counts are the answer's counts so far: the whole answer's once it has
// been read to its end.
func (f *Filter) Counts() Counts { return f.total }

// SubCounts are the counts of the $batch sub-response with id (compared
// without case).
func (f *Filter) SubCounts(id string) Counts {
	if c := f.perSub[strings.ToLower(id)]; c != nil {
		return *c
	}
	return Counts{}
}

// unfilterable records why the answer cannot be filtered; the first
// reason stands. Reasons name offsets and shapes, never content.
func (f *Filter) unfilterable(format string, args ...any) {
	if f.bad == nil {
		f.bad = fmt.Errorf("%w: at byte %d: %s", ErrUnfilterable, f.offset, fmt.Sprintf(format, args...))
	}
}

func (f *Filter) removed() {
	f.total.Removed++
	if f.cur != nil {
		f.cur.Removed++
	}
}

func (f *Filter) pseudonymised() {
	f.total.Pseudonymised++
	if f.cur != nil {
		f.cur.Pseudonymised++
	}
}

func (f *Filter) withheld() {
	f.total.Withheld++
	if f.cur != nil {
		f.cur.Withheld++
	}
}
