package policy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
)

// mimeAddressHeaders are the headers MIMERecipients reads, in canonical
// form: those that name where a message goes or where answers to it go.
var mimeAddressHeaders = []string{
	"To", "Cc", "Bcc", "From", "Sender", "Reply-To",
	"Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-From", "Resent-Sender",
	"Disposition-Notification-To", "Return-Receipt-To",
}

// maxMIMEHeader bounds the header block of a message given to
// MIMERecipients, its closing empty line included.
const maxMIMEHeader = 64 << 10

// MIMERecipients decodes a base64 MIME message (as Graph takes it for
// sendMail, createDraft, reply, replyAll and forward with Content-Type
// text/plain) and returns every address in its address headers, grouped
// by canonical header name: To, Cc, Bcc, From, Sender, Reply-To,
// Resent-To, Resent-Cc, Resent-Bcc, Resent-From, Resent-Sender,
// Disposition-Notification-To and Return-Receipt-To. Other headers, X-...
// and obsolete ones included, are ignored. A header that is absent or
// empty has no entry; the map is never nil when err is nil.
//
// It fails closed, on anything that a second reader (Graph, Exchange)
// might read differently:
//
//   - base64 that StdEncoding does not decode (line breaks, CRLF or LF,
//     are ignored; other whitespace and missing padding are errors);
//   - a header block that is empty (the message starts with an empty
//     line); one whose lines end in CRLF and bare LF both, or in bare LF
//     with a CR later in the message (a reader that breaks lines only at
//     CRLF would end the header block elsewhere);
//   - a header block of more than 64 KiB; a control character
//     in it other than tab and line breaks; a CR not followed by LF; a line
//     that is neither a continuation nor "name: value"; a field name that is
//     not printable ASCII (so "To : x" is refused, not ignored);
//   - an address header given twice (parsers disagree on which one counts);
//   - an address list that net/mail does not parse, or that uses group
//     syntax ("team: a@b;") or ':' or ';' outside quotes and comments, a
//     quoted local part (which net/mail would return unquoted), or
//     whitespace around an '@';
//   - an RFC 2047 encoded-word in a display name that cannot be decoded
//     (net/mail decodes utf-8, us-ascii and iso-8859-1);
//   - an '@' in an address header that is not the '@' of one of the
//     addresses returned: in a display name, quoted or encoded, or in a
//     comment, it is how a reader that parses differently is shown an
//     address the policy never saw;
//   - an address that ParseAddress refuses;
//   - a TNEF part anywhere in the message (findTNEF), or a structure of
//     parts that cannot be read to find one.
//
// Display names are otherwise allowed: they are part of MIME headers, and
// only the addr-spec is checked. The body after the header block is only
// decoded, to check the base64, never kept: memory use is bounded by the
// 64 KiB of the header block whatever the size of body, which the caller
// bounds.
func MIMERecipients(body []byte) (map[string][]Address, error) {
	dec := base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body))
	buf := make([]byte, maxMIMEHeader)
	// Not io.ReadFull: it reports a short read as io.ErrUnexpectedEOF,
	// which is also how the decoder reports truncated base64.
	n, err := 0, error(nil)
	for n < len(buf) && err == nil {
		var m int
		m, err = dec.Read(buf[n:])
		n += m
	}
	if err != nil && err != io.EOF {
		return nil, mimeError("body is not base64")
	}
	buf = buf[:n]
	end := headerEnd(buf)
	if end < 0 {
		if n == maxMIMEHeader {
			return nil, mimeError(fmt.Sprintf("header block longer than %d octets", maxMIMEHeader))
		}
		end = n // headers only, no body
	}
	// The rest is read to find base64 errors in it: Graph would refuse
	// such a body anyway, but a body we could not read whole is one whose
	// headers we cannot be sure we read as Graph does. It is searched for
	// a CR too (see lineBreaks), and its parts for TNEF (findTNEF), as it
	// goes by: it is never kept.
	block := buf[:end]
	rest := crFinder{found: bytes.IndexByte(buf[end:], '\r') >= 0}
	tail := io.MultiReader(bytes.NewReader(buf[end:]), io.TeeReader(dec, &rest))
	msg, msgErr := mail.ReadMessage(bytes.NewReader(block))
	var parts error
	if msgErr == nil {
		parts = findTNEF(textproto.MIMEHeader(msg.Header), tail, 0)
	}
	// The decoder's error, once met, is met again: a part cut short by it
	// is reported here as base64, not as its structure.
	if _, err := io.Copy(io.Discard, tail); err != nil {
		return nil, mimeError("body is not base64")
	}
	if end == 0 || block[0] == '\n' || block[0] == '\r' {
		// An empty line first: net/mail reads no header at all, while a
		// reader that skips leading blank lines reads the headers after it.
		return nil, mimeError("header block is empty (the message starts with an empty line)")
	}
	if err := checkHeaderBlock(block); err != nil {
		return nil, err
	}
	if err := lineBreaks(block, rest.found); err != nil {
		return nil, err
	}
	if msgErr != nil {
		return nil, mimeError("header block does not parse")
	}
	switch {
	case errors.Is(parts, errTNEF):
		return nil, mimeError(errTNEF.Error())
	case parts != nil:
		return nil, mimeError("MIME structure: " + parts.Error())
	}
	out := make(map[string][]Address)
	for _, name := range mimeAddressHeaders {
		values := msg.Header[name]
		if len(values) == 0 {
			continue
		}
		if len(values) > 1 {
			return nil, mimeError(name + " header given more than once")
		}
		addrs, err := headerAddresses(name, values[0])
		if err != nil {
			return nil, err
		}
		if len(addrs) > 0 {
			out[name] = addrs
		}
	}
	return out, nil
}

// mimeError is why MIMERecipients refused a message: a fixed phrase, with
// no part of the message in it.
type mimeError string

func (e mimeError) Error() string { return "policy: MIME message: " + string(e) }

// headerError is why MIMERecipients refused one address header; err is
// the ParseAddress error when an address was what it refused.
type headerError struct {
	header, reason string
	err            error
}

func (e *headerError) Error() string {
	return "policy: MIME message: " + e.header + " header: " + e.reason
}

func (e *headerError) Unwrap() error { return e.err }

// crFinder is an io.Writer that notes whether a CR went through it.
type crFinder struct{ found bool }

func (w *crFinder) Write(b []byte) (int, error) {
	w.found = w.found || bytes.IndexByte(b, '\r') >= 0
	return len(b), nil
}

// lineBreaks refuses a header block whose end a reader that breaks lines
// only at CRLF (as RFC 5322 writes them) would find elsewhere than one
// that also breaks them at a bare LF (as net/textproto does): line breaks
// of both kinds in the block, or a block of bare LFs followed by a
// message with a CR in it, where a CRLF reader could find an empty line
// and read the lines before it, which the proxy took for the message's
// body, as headers.
func lineBreaks(block []byte, crAfter bool) error {
	bare := bytes.Count(block, []byte("\n")) - bytes.Count(block, []byte("\r\n"))
	switch {
	case bare == 0:
		return nil
	case bare != bytes.Count(block, []byte("\n")):
		return mimeError("header block mixes CRLF and bare LF line breaks")
	case crAfter:
		return mimeError("header block ends lines with bare LF and the message has a CR after it")
	}
	return nil
}

// headerEnd returns the length of the header block at the start of msg,
// its closing empty line included, or -1 if msg holds no empty line. An
// empty line is "\n" or "\r\n", as net/textproto reads lines; a lone CR is
// refused later, so no other line break needs to be known here.
func headerEnd(msg []byte) int {
	for i := 0; ; {
		line := bytes.IndexByte(msg[i:], '\n')
		if line < 0 {
			return -1
		}
		if l := msg[i : i+line]; len(l) == 0 || len(l) == 1 && l[0] == '\r' {
			return i + line + 1
		}
		i += line + 1
	}
}

// checkHeaderBlock refuses what net/mail would accept but a reader that
// splits lines or names fields differently would not read the same way:
// the headers net/mail ignores (because their name is odd, or they hide
// behind a lone CR) are exactly the ones such a reader might obey.
func checkHeaderBlock(block []byte) error {
	for i, c := range block {
		switch {
		case c == '\r' && (i+1 == len(block) || block[i+1] != '\n'):
			return mimeError("CR without LF in the header block")
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f:
			return mimeError("control character in the header block")
		}
	}
	for first, rest := true, block; len(rest) > 0; first = false {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the closing empty line
		}
		if line[0] == ' ' || line[0] == '\t' {
			if first {
				return mimeError("header block starts with a continuation line")
			}
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return mimeError("header line without a field name")
		}
		for _, c := range name {
			// RFC 5322 ftext.
			if c < 33 || c > 126 {
				return mimeError("field name that is not printable ASCII")
			}
		}
	}
	return nil
}

// headerAddresses parses one address header's value.
func headerAddresses(name, value string) ([]Address, error) {
	refuse := func(reason string) ([]Address, error) {
		return nil, &headerError{header: name, reason: reason}
	}
	if strings.TrimSpace(value) == "" {
		// An empty Bcc: is how RFC 5322 §3.6.3 writes a message whose
		// blind recipients are not shown; there is nothing to check.
		return nil, nil
	}
	if reason := headerSyntax(value); reason != "" {
		return refuse(reason)
	}
	// net/mail decodes utf-8, us-ascii and iso-8859-1 itself and asks
	// CharsetReader for any other character set. It drops a word it could
	// not decode when words before it decoded, without an error, so the
	// refusal is noted here rather than read from its error.
	undecodable := false
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(string, io.Reader) (io.Reader, error) {
		undecodable = true
		return nil, errors.New("unsupported character set")
	}}}
	list, err := p.ParseList(value)
	if undecodable {
		return refuse("encoded-word in a character set that cannot be decoded")
	}
	if err != nil {
		return refuse("address list does not parse")
	}
	if strings.Count(value, "@") != len(list) {
		return refuse("'@' outside the addresses")
	}
	out := make([]Address, 0, len(list))
	for _, m := range list {
		if strings.Contains(m.Name, "=?") {
			// net/mail leaves an encoded-word it cannot decode as it is.
			return refuse("encoded-word that cannot be decoded")
		}
		if strings.Contains(m.Name, "@") {
			// Decoded from an encoded-word: the raw count above missed it.
			return refuse("'@' outside the addresses")
		}
		a, err := ParseAddress(m.Address)
		if err != nil {
			var ae addressError
			errors.As(err, &ae)
			return nil, &headerError{header: name, reason: "address refused: " + string(ae), err: err}
		}
		out = append(out, a)
	}
	return out, nil
}

// headerSyntax says what in value net/mail would accept but hide from
// the addresses it returns, or "". That is:
//
//   - a ':' or ';' outside quoted strings and comments, which in an
//     address list can only be group syntax (net/mail accepts groups and
//     flattens them, so the list it returns cannot tell) or an obsolete
//     route;
//   - a quoted string right before an '@', a quoted local part, which
//     net/mail returns unquoted ("a"@b as a@b), so that ParseAddress could
//     not refuse it;
//   - whitespace around an '@', which net/mail skips after it.
//
// Quotes and comments are tracked as net/mail reads them, backslash
// escapes and nested comments included, so that nothing it parses can
// look quoted or commented out here.
func headerSyntax(value string) string {
	quoted, depth := false, 0
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case (quoted || depth > 0) && c == '\\':
			i++
		case quoted:
			if c == '"' {
				quoted = false
				if i+1 < len(value) && value[i+1] == '@' {
					return "quoted local part"
				}
			}
		case depth > 0 && c == '(':
			depth++
		case depth > 0 && c == ')':
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
		case c == '(':
			depth = 1
		case c == ':' || c == ';':
			return "group syntax or ';'"
		case c == '@' && (i > 0 && isMailWSP(value[i-1]) || i+1 < len(value) && isMailWSP(value[i+1])):
			return "whitespace around '@'"
		}
	}
	return ""
}

func isMailWSP(c byte) bool { return c == ' ' || c == '\t' }
