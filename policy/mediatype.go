package policy

import (
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
)

// bodyMedia is how a route's request body is read, and so which
// Content-Types it may come with.
type bodyMedia uint8

const (
	// mediaJSON: application/json and nothing else. Graph reads most
	// bodies as JSON whatever they are labelled, so a body labelled
	// otherwise would reach Graph unread by the policy.
	mediaJSON bodyMedia = iota
	// mediaJSONOrMIME: JSON, or text/plain holding a base64 MIME message
	// (Graph's MIME form of sendMail, drafts, reply and forward).
	mediaJSONOrMIME
	// mediaContent: file content, passed on unread under any one
	// well-formed media type (a file's bytes name no one the policy
	// reads) but JSON's, which is read as JSON.
	mediaContent
	// mediaStream: a file's bytes under a content rule (content.go),
	// streamed to a file: any one well-formed media type, JSON's too.
	mediaStream
)

// decideMediaType checks a body's Content-Type for a route and returns
// the Content-Type Graph receives: the parsed type written out again, so
// that Graph cannot read a parameter or a second type the proxy did not.
// isMIME reports a base64 MIME message. reason is why the Content-Type is
// refused (415), or "".
func decideMediaType(ct string, media bodyMedia) (out string, isMIME bool, reason string) {
	if ct == "application/json" {
		// What the Graph SDKs send, and what every media of a body
		// writes it out as (FuzzDecideMediaType): not parsed again
		// for every call.
		return ct, false, ""
	}
	return parseMediaType(ct, media)
}

// parseMediaType is decideMediaType for any Content-Type.
func parseMediaType(ct string, media bodyMedia) (out string, isMIME bool, reason string) {
	if strings.TrimSpace(ct) == "" {
		return "", false, "a request body needs a Content-Type (application/json)"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false, fmt.Sprintf("Content-Type %s cannot be parsed: %v", notShown, err)
	}
	switch {
	case media == mediaStream, media == mediaContent && !JSONFamily(mt):
		out = mime.FormatMediaType(mt, params)
		if out == "" {
			return "", false, fmt.Sprintf("Content-Type %s cannot be written out again", shownMediaType(mt))
		}
		return out, false, ""
	case mt == "application/json":
		if reason := onlyUTF8(mt, params); reason != "" {
			return "", false, reason
		}
		if len(params) > 0 {
			return jsonUTF8, false, ""
		}
		return "application/json", false, ""
	case mt == "text/plain" && media == mediaJSONOrMIME:
		if reason := onlyUTF8(mt, params); reason != "" {
			return "", false, reason
		}
		return "text/plain", true, ""
	case media == mediaJSONOrMIME:
		return "", false, fmt.Sprintf("Content-Type %s is not application/json or text/plain (a base64 MIME message)", shownMediaType(mt))
	}
	return "", false, fmt.Sprintf("Content-Type %s is not application/json", shownMediaType(mt))
}

// jsonUTF8 is application/json with its one parameter accepted.
const jsonUTF8 = "application/json; charset=utf-8"

// isJSON reports whether out, a Content-Type decideMediaType wrote, is
// JSON's: the body is then read as JSON whatever the route.
func isJSON(out string) bool { return out == "application/json" || out == jsonUTF8 }

// JSONFamily reports a media type (type/subtype, ASCII case aside) that
// is read as JSON: by Graph, so that on a file content route it is
// JSON's rules that apply (application/json, read, with no parameter but
// charset=utf-8), never a file's bytes passed unread; and by a caller,
// so that the proxy reads an answer so labelled as JSON.
func JSONFamily(mt string) bool {
	_, sub, _ := strings.Cut(mt, "/")
	return ascii.EqualFold(mt, "application/json") || ascii.EqualFold(mt, "text/json") ||
		ascii.EqualFold(mt, "application/x-json") || ascii.HasSuffixFold(sub, "+json")
}

// onlyUTF8 allows no parameter but charset=utf-8.
func onlyUTF8(mt string, params map[string]string) string {
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Sprintf("Content-Type %s: only the parameter charset=utf-8 is accepted", shownMediaType(mt))
		}
	}
	return ""
}

// shownMediaType is what a reason shows of a Content-Type: its media type
// as parsed (lower-cased, without parameters), when shaped as a name; a
// header's value is the caller's to fill as a body's is.
func shownMediaType(mt string) string {
	if len(mt) > maxShownName || strings.ContainsFunc(mt, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/.+-_", r))
	}) {
		return notShown
	}
	return strconv.Quote(mt)
}
