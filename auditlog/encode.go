package auditlog

import (
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends rec as one JSON object, byte for byte what
// json.Marshal writes for it (FuzzAppendRecord holds it to that), and
// returns where the hash value goes: the offset just past `"hash":"`.
// Every call's record is encoded under the log's lock; without reflection
// it costs a fraction of json.Marshal.
func appendRecord(b []byte, r *Record) (_ []byte, hashAt int, err error) {
	b = append(b, `{"time":`...)
	if b, err = appendTime(b, r.Time); err != nil {
		return nil, 0, err
	}
	b = appendStringField(b, `,"replica":`, r.Replica)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = appendStringField(b, `,"prev":`, r.Prev)
	b = append(b, `,"hash":`...)
	hashAt = len(b) + 1
	b = appendString(b, r.Hash)
	if r.Kind != "" {
		b = appendStringField(b, `,"kind":`, r.Kind)
	}
	if r.ProxyVersion != "" {
		b = appendStringField(b, `,"proxyVersion":`, r.ProxyVersion)
	}
	if r.PolicyDigest != "" {
		b = appendStringField(b, `,"policyDigest":`, r.PolicyDigest)
	}
	b = appendStringField(b, `,"requestId":`, r.RequestID)
	b = appendStringField(b, `,"clientRequestId":`, r.ClientRequestID)
	b = appendStringField(b, `,"graphRequestId":`, r.GraphRequestID)
	b = appendStringField(b, `,"caller":{"name":`, r.Caller.Name)
	b = appendStringField(b, `,"tenantId":`, r.Caller.TenantID)
	b = appendStringField(b, `,"appId":`, r.Caller.AppID)
	b = appendStringField(b, `,"auth":`, r.Caller.Auth)
	b = appendStringField(b, `,"ip":`, r.Caller.IP)
	b = append(b, '}')
	if a := r.Actor; a != nil {
		b = appendStringField(b, `,"actor":{"oid":`, a.ObjectID)
		b = appendStringField(b, `,"upn":`, a.UPN)
		b = appendStringField(b, `,"tenantId":`, a.TenantID)
		b = append(b, '}')
	}
	b = appendStringField(b, `,"method":`, r.Method)
	b = appendStringField(b, `,"version":`, r.Version)
	b = appendStringField(b, `,"path":`, r.Path)
	b = appendStringField(b, `,"route":`, r.Route)
	b = appendStringField(b, `,"target":`, r.Target)
	b = appendStrings(append(b, `,"targets":`...), r.Targets)
	b = appendStrings(append(b, `,"query":`...), r.Query)
	b = appendStringField(b, `,"rule":`, r.Rule)
	b = appendStringField(b, `,"permission":`, r.Permission)
	b = appendStringField(b, `,"decision":`, r.Decision)
	b = appendStringField(b, `,"reason":`, r.Reason)
	if r.Batch != nil {
		b = appendStringField(b, `,"batch":{"requestId":`, r.Batch.RequestID)
		b = appendStringField(b, `,"id":`, r.Batch.ID)
		b = append(b, '}')
	}
	if c := r.Checkpoint; c != nil {
		b = strconv.AppendUint(append(b, `,"checkpoint":{"headSeq":`...), c.Seq, 10)
		b = appendStringField(b, `,"headHash":`, c.Hash)
		b = appendStringField(b, `,"keyId":`, c.KeyID)
		b = appendStringField(b, `,"alg":`, c.Alg)
		b = appendStringField(b, `,"signature":`, c.Signature)
		b = appendStringField(b, `,"error":`, c.Error)
		b = append(b, '}')
	}
	if rs := r.Response; rs != nil {
		b = appendStringField(b, `,"response":{"rule":`, rs.Rule)
		b = strconv.AppendInt(append(b, `,"removed":`...), int64(rs.Removed), 10)
		b = strconv.AppendInt(append(b, `,"pseudonymised":`...), int64(rs.Pseudonymised), 10)
		b = append(b, '}')
	}
	if f := r.File; f != nil {
		b = appendStringField(b, `,"file":{"op":`, f.Op)
		b = appendStringField(b, `,"drive":`, f.Drive)
		b = appendStringField(b, `,"item":`, f.Item)
		b = appendStringField(b, `,"name":`, f.Name)
		b = appendStringField(b, `,"session":`, f.Session)
		b = appendStringField(b, `,"range":`, f.Range)
		b = strconv.AppendInt(append(b, `,"bytesUp":`...), f.BytesUp, 10)
		b = strconv.AppendInt(append(b, `,"bytesDown":`...), f.BytesDown, 10)
		b = appendStringField(b, `,"outcome":`, f.Outcome)
		b = append(b, '}')
	}
	if r.Direction != "" {
		b = appendStringField(b, `,"direction":`, r.Direction)
	}
	if n := r.Notification; n != nil {
		b = appendStringField(b, `,"notification":{"subscriptionId":`, n.SubscriptionID)
		b = appendStringField(b, `,"changeType":`, n.ChangeType)
		b = appendStringField(b, `,"lifecycleEvent":`, n.LifecycleEvent)
		b = appendStringField(b, `,"resource":`, n.Resource)
		b = appendStringField(b, `,"tenantId":`, n.TenantID)
		b = strconv.AppendBool(append(b, `,"resourceData":`...), n.ResourceData)
		b = append(b, '}')
	}
	b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	b = strconv.AppendInt(append(b, `,"upstreamStatus":`...), int64(r.UpstreamStatus), 10)
	if r.Attempts != 0 {
		b = strconv.AppendInt(append(b, `,"attempts":`...), int64(r.Attempts), 10)
	}
	if b, err = appendFloat(append(b, `,"retryAfter":`...), r.RetryAfter); err != nil {
		return nil, 0, err
	}
	b = strconv.AppendInt(append(b, `,"bytesIn":`...), r.BytesIn, 10)
	b = strconv.AppendInt(append(b, `,"bytesOut":`...), r.BytesOut, 10)
	if b, err = appendFloat(append(b, `,"durationMs":`...), r.DurationMs); err != nil {
		return nil, 0, err
	}
	if b, err = appendFloat(append(b, `,"upstreamMs":`...), r.UpstreamMs); err != nil {
		return nil, 0, err
	}
	b = appendStringField(b, `,"error":`, r.Error)
	return append(b, '}'), hashAt, nil
}

func appendStringField(b []byte, name, v string) []byte {
	return appendString(append(b, name...), v)
}

// appendStrings writes a nil slice as null, as json.Marshal does.
func appendStrings(b []byte, vs []string) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendTime writes t as time.Time.MarshalJSON does, with its limits.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	switch {
	case len(b)-n0 < len("2006-01-02T15:04:05Z") || b[n0+len("2006")] != '-':
		return nil, errors.New("audit: record time: year outside of range [0,9999]")
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		zh := 10*(b[len(b)-len("07:00")]-'0') + b[len(b)-len("7:00")] - '0'
		if ('0' <= c && c <= '9') || zh >= 24 {
			return nil, errors.New("audit: record time: timezone hour outside of range [0,23]")
		}
	}
	return append(b, '"'), nil
}

// appendFloat writes f as encoding/json writes a float64: like %g, with
// ES6's exponent cut-offs and an exponent not padded to two digits.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("audit: unsupported value " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the ASCII bytes appendString copies as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string the way json.Marshal does:
// HTML-significant characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced with U+FFFD.
func appendString(b []byte, s string) []byte {
	// Records are mostly plain ASCII: a run of it is copied whole, each
	// byte tested with one table lookup.
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
