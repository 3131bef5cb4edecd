//go:build unix

package auditlog_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// TestFileSinkFailsClosedOnTime: the file sink's write blocks, as on a
// hung disk or a stalled network share (here a FIFO nobody reads, which
// blocks write(2) the same way and cannot be interrupted by a deadline on
// the sink's side). Calls are refused within the budget; once the write
// goes through, every record reaches the file once, in chain order.
func TestFileSinkFailsClosedOnTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	// The reader is opened first, without blocking, so that the sink's
	// open does not wait for one.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs, err := auditlog.OpenFile(path, 1<<40, 1, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var filler int
	var out bytes.Buffer
	copied := make(chan error, 1)
	failsClosedOnTime(t, hangCase{
		sink: fs,
		hang: func(t *testing.T) {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			filler = fillPipe(t, w)
		},
		recover: func(*testing.T) {
			go func() {
				_, err := io.Copy(&out, r)
				copied <- err
			}()
		},
		written: func(t *testing.T) string {
			// Closing the log closed the sink, the FIFO's last writer.
			if err := <-copied; err != nil {
				t.Fatal(err)
			}
			return withoutFiller(out.String(), filler)
		},
		// A FIFO cannot be synced to disk.
		closeErr: func(err error) bool { return errors.Is(err, syscall.EINVAL) },
	})
}
