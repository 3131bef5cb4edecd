package proxy

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// idleBody bounds each Read of Graph's answer body (graph.timeout): when
// one waits longer than idle, the body is closed under it, which ends the
// stream and the Read, and the Read reports the stall. Only the time
// inside Read counts: a caller slow to take the answer does not make
// Graph stalled.
//
// Its one timer is set when the body is wrapped and fires only if the body
// outlives idle; a Read only notes when it began. Most answers are read
// whole within a millisecond, so on the data path the guard is a timer set
// and stopped once per call, not twice per Read, and no context of its
// own: closing the body is how the transport is told to give up on it,
// and its bodies (HTTP/1.1 and HTTP/2, decompressed or not) are made to be
// closed while a Read is under way.
type idleBody struct {
	io.ReadCloser
	idle time.Duration
	// since is the monotonic clock's origin for reading.
	since time.Time
	// reading is when the Read under way began, in nanoseconds after
	// since, plus one; 0 between Reads.
	reading atomic.Int64
	stalled atomic.Bool
	// over: the body is closed, or a Read ended it (its end or a
	// failure), and no Read is to come for the timer to watch.
	over  atomic.Bool
	timer *time.Timer
}

func newIdleBody(body io.ReadCloser, idle time.Duration) *idleBody {
	b := &idleBody{ReadCloser: body, idle: idle, since: time.Now()}
	b.timer = time.AfterFunc(idle, b.check)
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.reading.Store(int64(time.Since(b.since)) + 1)
	n, err := b.ReadCloser.Read(p)
	b.reading.Store(0)
	if err != nil {
		// The timer would otherwise be set again every idle until the
		// body is closed, for Reads that cannot come.
		b.stop()
		if err != io.EOF && b.stalled.Load() {
			err = fmt.Errorf("Graph's answer stalled: nothing for %s (graph.timeout)", b.idle)
		}
	}
	return n, err
}

// check runs when the timer fires: a Read that has waited idle is ended by
// closing the body; otherwise the timer is set again for when the Read
// under way, or the next, would have waited idle.
func (b *idleBody) check() {
	if b.over.Load() {
		return
	}
	wait := b.idle
	if began := b.reading.Load(); began != 0 {
		waited := time.Since(b.since) - time.Duration(began-1)
		if waited >= b.idle {
			b.stalled.Store(true)
			b.ReadCloser.Close()
			return
		}
		wait = b.idle - waited
	}
	b.timer.Reset(wait)
}

// Close stops the timer.
func (b *idleBody) Close() error {
	b.stop()
	return b.ReadCloser.Close()
}

// stop ends the watch; a check already running finds the body over and
// sets no timer again.
func (b *idleBody) stop() {
	b.over.Store(true)
	b.timer.Stop()
}
