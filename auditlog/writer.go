package auditlog

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Log accepts audit records.
type Log interface {
	// Ready reports whether the log can accept a record now. The proxy asks
	// before forwarding, and refuses the call with 503 when it cannot: a
	// call that could not be audited is never made.
	Ready() error
	// Append writes rec or reports why it could not.
	Append(rec *Record) error
}

// Writer is a Log that writes each record as one JSON line to an io.Writer,
// such as standard output (which Container Apps ships to Log Analytics).
// It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{enc: json.NewEncoder(w)}
}

// Ready reports the last write error, if any: a Writer whose output failed
// fails closed until a later write succeeds.
func (w *Writer) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Append writes rec as one line.
func (w *Writer) Append(rec *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(rec); err != nil {
		w.err = fmt.Errorf("audit: writing record: %w", err)
		return w.err
	}
	w.err = nil
	return nil
}
