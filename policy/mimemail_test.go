package policy

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// goodMessage is the baseline every case of TestMIMERecipients changes in
// one place.
const goodMessage = "From: Alice <alice@contoso.example>\r\n" +
	"To: \"Smith, Bob\" <bob@contoso.example>, carol@fabrikam.example\r\n" +
	"Cc: =?utf-8?q?Jos=C3=A9?= <jose@contoso.example>\r\n" +
	"Subject: Meeting: agenda; notes\r\n" +
	"X-Recipient: evil@evil.example\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"To: not-a-header@evil.example\r\n"

var goodRecipients = map[string][]Address{
	"From": {{Local: "alice", Domain: "contoso.example"}},
	"To":   {{Local: "bob", Domain: "contoso.example"}, {Local: "carol", Domain: "fabrikam.example"}},
	"Cc":   {{Local: "jose", Domain: "contoso.example"}},
}

// mimeBody encodes msg as Graph takes it: base64 in lines of 76 with CRLF.
func mimeBody(msg string) []byte {
	enc := base64.StdEncoding.EncodeToString([]byte(msg))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return []byte(b.String())
}

// withHeader returns goodMessage with header line old replaced by repl
// (old "" puts repl first).
func withHeader(old, repl string) string {
	if old == "" {
		return repl + goodMessage
	}
	i := strings.Index(goodMessage, old)
	if i < 0 {
		panic("no " + old + " in goodMessage")
	}
	return goodMessage[:i] + repl + goodMessage[i+len(old):]
}

func TestMIMERecipients(t *testing.T) {
	toLine := "To: \"Smith, Bob\" <bob@contoso.example>, carol@fabrikam.example\r\n"
	tests := []struct {
		name    string
		body    []byte
		want    map[string][]Address // nil: goodRecipients
		wantErr string
	}{
		{name: "good message", body: mimeBody(goodMessage)},
		{name: "base64 on one line", body: []byte(base64.StdEncoding.EncodeToString([]byte(goodMessage)))},
		{name: "base64 with a final CRLF", body: append(mimeBody(goodMessage), "\r\n"...)},
		{name: "LF line breaks", body: mimeBody(strings.ReplaceAll(goodMessage, "\r\n", "\n"))},
		{name: "headers only", body: mimeBody(goodMessage[:strings.Index(goodMessage, "\r\n\r\n")+2])},
		{name: "folded To", body: mimeBody(withHeader(toLine, "To: \"Smith, Bob\" <bob@contoso.example>,\r\n\tcarol@fabrikam.example\r\n"))},
		{name: "header name case", body: mimeBody(withHeader(toLine, strings.Replace(toLine, "To:", "tO:", 1)))},
		{name: "body past 64 KiB", body: mimeBody(goodMessage + strings.Repeat("x", 100<<10))},
		{name: "outside domain returned", body: mimeBody(withHeader(toLine, "To: mallory@evil.example\r\n")), want: map[string][]Address{
			"From": goodRecipients["From"], "Cc": goodRecipients["Cc"], "To": {{Local: "mallory", Domain: "evil.example"}},
		}},
		{name: "Bcc and the rest", body: mimeBody(withHeader("", "Bcc: b@bcc.example\r\nReply-To: r@reply.example\r\nSender: s@sender.example\r\n"+
			"Resent-To: rt@resent.example\r\nResent-Cc: rc@resent.example\r\nResent-Bcc: rb@resent.example\r\nResent-From: rf@resent.example\r\n"+
			"Resent-Sender: rs@resent.example\r\nDisposition-Notification-To: d@receipt.example\r\nReturn-Receipt-To: rr@receipt.example\r\n")), want: map[string][]Address{
			"From": goodRecipients["From"], "To": goodRecipients["To"], "Cc": goodRecipients["Cc"],
			"Bcc": {{"b", "bcc.example"}}, "Reply-To": {{"r", "reply.example"}}, "Sender": {{"s", "sender.example"}},
			"Resent-To": {{"rt", "resent.example"}}, "Resent-Cc": {{"rc", "resent.example"}}, "Resent-Bcc": {{"rb", "resent.example"}},
			"Resent-From": {{"rf", "resent.example"}}, "Resent-Sender": {{"rs", "resent.example"}},
			"Disposition-Notification-To": {{"d", "receipt.example"}}, "Return-Receipt-To": {{"rr", "receipt.example"}},
		}},
		{name: "empty Bcc", body: mimeBody(withHeader("", "Bcc: \r\n"))},
		{name: "IDN domain", body: mimeBody(withHeader(toLine, "To: bob@ＣＯＮＴＯＳＯ.example, x@bücher.example\r\n")), want: map[string][]Address{
			"From": goodRecipients["From"], "Cc": goodRecipients["Cc"], "To": {{"bob", "contoso.example"}, {"x", "xn--bcher-kva.example"}},
		}},
		{name: "no address header", body: mimeBody("Subject: x\r\n\r\nbody\r\n"), want: map[string][]Address{}},
		{name: "LF line breaks, no CR after", body: mimeBody(strings.ReplaceAll(goodMessage, "\r\n", "\n") + "more\n\nTo: x@evil.example\n")},

		{name: "empty header block", body: mimeBody("\r\nbody\r\n"), wantErr: "policy: MIME message: header block is empty (the message starts with an empty line)"},
		{name: "empty line, then headers", body: mimeBody("\r\nFrom: a@contoso.example\r\nTo: mallory@evil.example\r\n\r\nbody"), wantErr: "policy: MIME message: header block is empty (the message starts with an empty line)"},
		{name: "empty LF line, then headers", body: mimeBody("\nTo: mallory@evil.example\n\nbody"), wantErr: "policy: MIME message: header block is empty (the message starts with an empty line)"},
		{name: "CRLF and bare LF in the header block", body: mimeBody("Subject: x\n\r\nTo: mallory@evil.example\r\n\r\nbody"), wantErr: "policy: MIME message: header block mixes CRLF and bare LF line breaks"},
		{name: "bare LF header block, CRLF headers after it", body: mimeBody("Subject: x\n\nTo: mallory@evil.example\r\n\r\nbody"), wantErr: "policy: MIME message: header block ends lines with bare LF and the message has a CR after it"},
		{name: "bad base64", body: []byte("not base64!"), wantErr: "policy: MIME message: body is not base64"},
		{name: "truncated base64", body: []byte("VG86IGFAYi5leGFtcGxl"[:19]), wantErr: "policy: MIME message: body is not base64"},
		{name: "spaces in base64", body: []byte("VG86IGFA Yi5leGFtcGxl"), wantErr: "policy: MIME message: body is not base64"},
		{name: "bad base64 after the headers", body: append(mimeBody(goodMessage+"body"), "!!!!"...), wantErr: "policy: MIME message: body is not base64"},
		{name: "empty", body: nil, wantErr: "policy: MIME message: header block is empty (the message starts with an empty line)"},
		{name: "header block over 64 KiB", body: mimeBody(withHeader("", "X-Big: "+strings.Repeat("x", 64<<10)+"\r\n")), wantErr: "policy: MIME message: header block longer than 65536 octets"},
		{name: "two To headers", body: mimeBody(withHeader("", "To: mallory@evil.example\r\n")), wantErr: "policy: MIME message: To header given more than once"},
		{name: "To and to", body: mimeBody(withHeader("", "to: mallory@evil.example\r\n")), wantErr: "policy: MIME message: To header given more than once"},
		{name: "space before the colon", body: mimeBody(withHeader("", "Bcc : mallory@evil.example\r\n")), wantErr: "policy: MIME message: field name that is not printable ASCII"},
		{name: "lone CR hides a header", body: mimeBody(withHeader("Subject: Meeting: agenda; notes\r\n", "Subject: x\rBcc: mallory@evil.example\r\n")), wantErr: "policy: MIME message: CR without LF in the header block"},
		{name: "NUL in the header block", body: mimeBody(withHeader("", "X-A: a\x00b\r\n")), wantErr: "policy: MIME message: control character in the header block"},
		{name: "line without a colon", body: mimeBody(withHeader("", "Bcc mallory@evil.example\r\n")), wantErr: "policy: MIME message: header line without a field name"},
		{name: "leading continuation", body: mimeBody(withHeader("", " Bcc: mallory@evil.example\r\n")), wantErr: "policy: MIME message: header block starts with a continuation line"},
		{name: "group", body: mimeBody(withHeader(toLine, "To: team: bob@contoso.example, mallory@evil.example;\r\n")), wantErr: "policy: MIME message: To header: group syntax or ';'"},
		{name: "empty group", body: mimeBody(withHeader(toLine, "To: undisclosed-recipients:;\r\n")), wantErr: "policy: MIME message: To header: group syntax or ';'"},
		{name: "semicolon list", body: mimeBody(withHeader(toLine, "To: bob@contoso.example; mallory@evil.example\r\n")), wantErr: "policy: MIME message: To header: group syntax or ';'"},
		{name: "group behind an escaped quote", body: mimeBody(withHeader(toLine, "To: \"a\\\"\" team: mallory@evil.example;\r\n")), wantErr: "policy: MIME message: To header: group syntax or ';'"},
		{name: "list does not parse", body: mimeBody(withHeader(toLine, "To: bob@contoso.example mallory@evil.example\r\n")), wantErr: "policy: MIME message: To header: address list does not parse"},
		{name: "address in a quoted display name", body: mimeBody(withHeader(toLine, "To: \"bob@contoso.example\" <mallory@evil.example>\r\n")), wantErr: "policy: MIME message: To header: '@' outside the addresses"},
		{name: "address in a comment", body: mimeBody(withHeader(toLine, "To: bob@contoso.example (mallory@evil.example)\r\n")), wantErr: "policy: MIME message: To header: '@' outside the addresses"},
		{name: "address in an escaped comment", body: mimeBody(withHeader(toLine, "To: bob@contoso.example (x\\), mallory@evil.example)\r\n")), wantErr: "policy: MIME message: To header: '@' outside the addresses"},
		{name: "address in an encoded-word", body: mimeBody(withHeader(toLine, "To: =?utf-8?q?mallory=40evil.example?= <bob@contoso.example>\r\n")), wantErr: "policy: MIME message: To header: '@' outside the addresses"},
		{name: "encoded-word that does not decode", body: mimeBody(withHeader(toLine, "To: =?utf-8?x?abc?= <bob@contoso.example>\r\n")), wantErr: "policy: MIME message: To header: encoded-word that cannot be decoded"},
		{name: "encoded-word in an unknown charset", body: mimeBody(withHeader(toLine, "To: =?x-unknown?q?abc?= <bob@contoso.example>\r\n")), wantErr: "policy: MIME message: To header: encoded-word in a character set that cannot be decoded"},
		{name: "unknown charset after a good word", body: mimeBody(withHeader(toLine, "To: =?utf-8?q?a?= =?iso-2022-jp?q?b?= <bob@contoso.example>\r\n")), wantErr: "policy: MIME message: To header: encoded-word in a character set that cannot be decoded"},
		{name: "quoted local part", body: mimeBody(withHeader(toLine, "To: \"mallory\"@contoso.example\r\n")), wantErr: "policy: MIME message: To header: quoted local part"},
		{name: "quoted local part in angle brackets", body: mimeBody(withHeader(toLine, "To: M <\"mallory\"@contoso.example>\r\n")), wantErr: "policy: MIME message: To header: quoted local part"},
		{name: "space after '@'", body: mimeBody(withHeader(toLine, "To: mallory@ contoso.example\r\n")), wantErr: "policy: MIME message: To header: whitespace around '@'"},
		{name: "Unicode local part", body: mimeBody(withHeader(toLine, "To: josé@contoso.example\r\n")), want: map[string][]Address{
			"From": goodRecipients["From"], "Cc": goodRecipients["Cc"], "To": {{"josé", "contoso.example"}},
		}},
		{name: "local part ParseAddress refuses", body: mimeBody(withHeader(toLine, "To: =?utf-8?q?x?=@contoso.example\r\n")), wantErr: "policy: MIME message: To header: address refused: RFC 2047 encoded-word in the local part"},
		{name: "percent hack", body: mimeBody(withHeader(toLine, "To: mallory%evil.example@contoso.example\r\n")), wantErr: "policy: MIME message: To header: address refused: '%' or '!' (relay routing) in the local part"},
		{name: "domain literal", body: mimeBody(withHeader(toLine, "To: mallory@[192.0.2.1]\r\n")), wantErr: "policy: MIME message: To header: address refused: domain literal or bracket"},
		{name: "deviation character", body: mimeBody(withHeader("", "Bcc: x@straße.example\r\n")), wantErr: "policy: MIME message: Bcc header: address refused: IDNA deviation character (ß, ς, ẞ) in the domain"},
	}
	// A multipart message around parts, the first part its text.
	ctLine := "Content-Type: text/plain; charset=utf-8\r\n"
	mixed := func(parts ...string) []byte {
		msg := withHeader(ctLine, "Content-Type: multipart/mixed; boundary=\"b1\"\r\n")
		msg = msg[:strings.Index(msg, "\r\n\r\n")+4] + "preamble\r\n"
		for _, p := range append([]string{"Content-Type: text/plain\r\n\r\nhello\r\n"}, parts...) {
			msg += "--b1\r\n" + p
		}
		return mimeBody(msg + "--b1--\r\n")
	}
	const tnefData = "Content-Transfer-Encoding: base64\r\n\r\neJ8+IgAAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA5AQAAAAAAADoAAEIgAcAGAAAAElQTS5NaWNyb3NvZnQgTWFpbC5Ob3RlADEIAQ2ABAACAAAAAgACAAEEkAYA\r\n"
	tnefErr := "policy: MIME message: a TNEF part (winmail.dat, application/ms-tnef) carries MAPI properties the proxy does not read"
	tnefTests := []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{name: "multipart with an attachment", body: mixed("Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n" + tnefData)},
		{name: "a TNEF part", body: mixed("Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n" + tnefData), wantErr: tnefErr},
		{name: "a TNEF part, vnd. and case", body: mixed("content-type: Application/VND.MS-TNEF\r\n" + tnefData), wantErr: tnefErr},
		{name: "winmail.dat as octet-stream", body: mixed("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"WINMAIL.DAT\"\r\n" + tnefData), wantErr: tnefErr},
		{name: "winmail.dat named in RFC 2231", body: mixed("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''winmail%2Edat\r\n" + tnefData), wantErr: tnefErr},
		{name: "winmail.dat named in an encoded-word", body: mixed("Content-Type: application/octet-stream; name=\"=?utf-8?q?winmail=2Edat?=\"\r\n" + tnefData), wantErr: tnefErr},
		{name: "a TNEF part nested in an alternative", body: mixed("Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nx\r\n--b2\r\nContent-Type: application/ms-tnef\r\n" + tnefData + "--b2--\r\n"), wantErr: tnefErr},
		{name: "the message itself TNEF", body: mimeBody(withHeader(ctLine, "Content-Type: application/ms-tnef\r\n")), wantErr: tnefErr},
		{name: "a TNEF part of an attached message: the attachment's", body: mixed("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: application/ms-tnef\r\n\r\nx\r\n")},
		{name: "multipart without a boundary", body: mimeBody(withHeader(ctLine, "Content-Type: multipart/mixed\r\n")), wantErr: "policy: MIME message: MIME structure: a multipart without a boundary"},
		{name: "multipart cut short", body: mimeBody(withHeader(ctLine, "Content-Type: multipart/mixed; boundary=b1\r\n") + "--b1\r\nContent-Type: application/ms-tnef\r\n"), wantErr: "policy: MIME message: MIME structure: a multipart does not parse"},
		{name: "Content-Type that does not parse", body: mimeBody(withHeader(ctLine, "Content-Type: multipart/mixed; boundary\r\n")), wantErr: "policy: MIME message: MIME structure: a Content-Type does not parse"},
		{name: "bad base64 inside a part", body: append(mixed("Content-Type: application/pdf\r\n" + tnefData)[:200], "!!!!"...), wantErr: "policy: MIME message: body is not base64"},
	}
	for _, tt := range tnefTests {
		tests = append(tests, struct {
			name    string
			body    []byte
			want    map[string][]Address
			wantErr string
		}{name: tt.name, body: tt.body, wantErr: tt.wantErr})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MIMERecipients(tt.body)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v", err)
			}
			want := tt.want
			if want == nil {
				want = goodRecipients
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v; want %v", got, want)
			}
		})
	}
}

func TestMIMERecipientsWrapsAddressError(t *testing.T) {
	_, err := MIMERecipients(mimeBody("To: x%y@contoso.example\r\n\r\n"))
	var ae addressError
	if !errors.As(err, &ae) || ae != "'%' or '!' (relay routing) in the local part" {
		t.Errorf("got %v; want it to wrap the ParseAddress error", err)
	}
}

// FuzzMIMERecipients checks that MIMERecipients never panics and that
// every address it returns is one ParseAddress accepts as it is. The
// fuzzer mostly mutates the message and the target encodes it, since
// mutated base64 is mostly refused before the headers are read; with raw
// set, the body is given as it is.
func FuzzMIMERecipients(f *testing.F) {
	for _, msg := range []string{
		goodMessage, strings.ReplaceAll(goodMessage, "\r\n", "\n"), "", "\r\n",
		"To: a@b.example\r\nTo: c@d.example\r\n\r\n", "To: team: a@b.example;\r\n\r\n",
		"To: \"a@b.example\" <c@d.example>\r\n\r\n", "To: a@b.example (c@d.example)\r\n\r\n",
		"To: =?utf-8?b?w6k=?= <a@b.example>\r\nCc: =?iso-8859-1?q?=E9?= <c@d.example>\r\n\r\n",
		"Subject: x\rBcc: a@b.example\r\n\r\n", "Bcc :a@b.example\r\n\r\n", "To: a@ＢＣ.example,\r\n d@e.example\r\n",
		"To: \"a\\\"b\" <a@b.example>, (c\\) d) e@f.example\r\n\r\n",
		"To: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/ms-tnef\r\n\r\ny\r\n--b--\r\n",
		"To: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--",
	} {
		f.Add([]byte(msg), false)
	}
	f.Add(mimeBody(goodMessage), true)
	f.Add([]byte("not base64"), true)
	f.Fuzz(func(t *testing.T, msg []byte, raw bool) {
		body := msg
		if !raw {
			body = mimeBody(string(msg))
		}
		got, err := MIMERecipients(body)
		if err != nil {
			return
		}
		for name, addrs := range got {
			if len(addrs) == 0 {
				t.Fatalf("%s present with no addresses", name)
			}
			for _, a := range addrs {
				again, err := ParseAddress(a.String())
				if err != nil || again != a {
					t.Fatalf("%s address %#v: ParseAddress(%q) = %#v, %v", name, a, a.String(), again, err)
				}
			}
		}
	})
}
