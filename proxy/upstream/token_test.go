package upstream

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestTokenRedacted(t *testing.T) {
	tok := Token{Value: "eyJhbGciOi.secret-token-value.sig", ExpiresOn: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("token", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token", "token", tok)
	fmt.Fprintf(&buf, "%v %s %+v\n", tok, tok, tok)
	if strings.Contains(buf.String(), "secret-token-value") || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("a token was printed:\n%s", buf.String())
	}
}
