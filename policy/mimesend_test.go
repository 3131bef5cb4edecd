package policy

import "testing"

// TestMIMESendNamesRecipients: a message sent in Graph's MIME form is
// sent only when the proxy read its header block as a reader that breaks
// lines otherwise would, and found whom it goes to there.
func TestMIMESendNamesRecipients(t *testing.T) {
	p := mustLoad(t, "testdata/reach.yaml")
	u := "/v1.0/users/" + alice
	tests := []struct {
		name, msg, want string
	}{
		{"recipient named", "From: " + alice + "\r\nTo: " + bob + "\r\nSubject: x\r\n\r\nbody", "allow"},
		{"empty line first, headers after it", "\r\nFrom: " + alice + "\r\nTo: " + evil + "\r\nSubject: x\r\n\r\nbody", "400"},
		{"no address header", "Subject: x\r\n\r\nbody", "400"},
		{"From only", "From: " + alice + "\r\nSubject: x\r\n\r\nbody", "400"},
		{"mixed line breaks", "Subject: x\n\r\nTo: " + evil + "\r\n\r\nbody", "400"},
		{"bare LF headers, CRLF ones after", "To: " + bob + "\n\nTo: " + evil + "\r\n\r\nbody", "400"},
		{"continuation first", " To: " + evil + "\r\nTo: " + bob + "\r\n\r\nbody", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", "POST", u+"/sendMail", "text/plain", string(mimeBody(tt.msg)))
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
		})
	}
}
