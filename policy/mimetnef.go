package policy

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// A MIME message may carry MAPI properties in a TNEF part (winmail.dat,
// application/ms-tnef): Exchange reads the message's properties from it,
// even those its headers also give (MS-OXCMAIL 2.1.3.1, 2.4.3), among them
// where replies, read receipts and delivery reports go and whom the mail
// is from. The proxy reads the headers only, and refuses MAPI properties
// on mail in JSON (bodyCheck.extended); a TNEF part is the same properties
// in MIME, and is refused too, wherever it stands in the message.

// maxMIMEDepth bounds how deep multiparts nest in a message the proxy
// reads for TNEF parts.
const maxMIMEDepth = 16

// errTNEF is a message that carries a TNEF part.
var errTNEF = errors.New("a TNEF part (winmail.dat, application/ms-tnef) carries MAPI properties the proxy does not read")

// findTNEF reads the body of a part (a message's, at depth 0) whose
// header is h, and returns errTNEF for a TNEF part at or below it, or why
// its structure cannot be read (then the message is refused, as one whose
// parts the proxy may have found otherwise than Exchange); nil otherwise.
// It reads r only as far as a multipart's parts; the caller reads the rest.
func findTNEF(h textproto.MIMEHeader, r io.Reader, depth int) error {
	mt, params := "text/plain", map[string]string(nil)
	if ct := h.Values("Content-Type"); len(ct) > 0 {
		if len(ct) > 1 {
			return errors.New("Content-Type given more than once")
		}
		var err error
		if mt, params, err = mime.ParseMediaType(ct[0]); err != nil {
			return errors.New("a Content-Type does not parse")
		}
	}
	if mt == "application/ms-tnef" || mt == "application/vnd.ms-tnef" || tnefName(params["name"]) {
		return errTNEF
	}
	if cd := h.Values("Content-Disposition"); len(cd) > 0 {
		_, dparams, err := mime.ParseMediaType(cd[0])
		if len(cd) > 1 || err != nil {
			return errors.New("a Content-Disposition does not parse")
		}
		if tnefName(dparams["filename"]) || tnefName(dparams["name"]) {
			return errTNEF
		}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		// A leaf; an attached message (message/rfc822) is an item of its
		// own, whose properties are not the message's.
		return nil
	}
	if depth >= maxMIMEDepth {
		return errors.New("multiparts nested too deep")
	}
	if params["boundary"] == "" {
		return errors.New("a multipart without a boundary")
	}
	w := &closeWatch{r: r, delim: []byte("\n--" + params["boundary"] + "--"), carry: []byte("\n")}
	mr := multipart.NewReader(w, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF && w.seen {
			return nil
		}
		if err != nil {
			return errors.New("a multipart does not parse")
		}
		if err := findTNEF(p.Header, p, depth+1); err != nil {
			return err
		}
	}
}

// tnefName reports whether an attachment's name (as RFC 2231 or an
// encoded-word gives it) is winmail.dat, TNEF's.
func tnefName(name string) bool {
	if strings.Contains(name, "=?") {
		if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = dec
		}
	}
	return strings.EqualFold(strings.TrimSpace(name), "winmail.dat")
}

// closeWatch reads r and notes whether a multipart's close delimiter (a
// line that begins with "--", the boundary and "--") went through it:
// multipart.Reader reports the end of the parts and a part whose header
// the message ends in alike, as io.EOF, and the second is a part Exchange
// may read the header of.
type closeWatch struct {
	r     io.Reader
	delim []byte // "\n--" boundary "--"
	carry []byte // the last bytes read, to find delim across reads
	seen  bool
}

func (w *closeWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if !w.seen && n > 0 {
		buf := append(w.carry, p[:n]...)
		w.seen = bytes.Contains(buf, w.delim)
		if keep := len(w.delim) - 1; len(buf) > keep {
			buf = buf[len(buf)-keep:]
		}
		w.carry = append(w.carry[:0], buf...)
	}
	return n, err
}
