package proxy

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeBody is an answer body whose bytes the test hands over one Read at a
// time; Close ends a Read under way, as the transport's bodies do.
type pipeBody struct {
	chunks    chan string
	closeOnce sync.Once
	done      chan struct{}
	closes    int
	mu        sync.Mutex
}

func newPipeBody() *pipeBody {
	return &pipeBody{chunks: make(chan string), done: make(chan struct{})}
}

func (p *pipeBody) Read(b []byte) (int, error) {
	select {
	case s, ok := <-p.chunks:
		if !ok {
			return 0, io.EOF
		}
		return copy(b, s), nil
	case <-p.done:
		return 0, errors.New("body closed")
	}
}

func (p *pipeBody) Close() error {
	p.mu.Lock()
	p.closes++
	p.mu.Unlock()
	p.closeOnce.Do(func() { close(p.done) })
	return nil
}

func (p *pipeBody) closed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closes
}

// TestIdleBody: a Read that waits longer than idle is ended and reports
// the stall; time between Reads (a slow caller) and Reads that each come
// within idle are not a stall, however long the body lasts; a closed body
// is not closed again by its timer; and a body read to its end no longer
// has a timer set, even before it is closed.
func TestIdleBody(t *testing.T) {
	const idle = 150 * time.Millisecond
	t.Run("stalled read", func(t *testing.T) {
		p := newPipeBody()
		b := newIdleBody(p, idle)
		defer b.Close()
		go func() { p.chunks <- "first" }()
		buf := make([]byte, 16)
		if n, err := b.Read(buf); err != nil || string(buf[:n]) != "first" {
			t.Fatalf("first read: %q, %v", buf[:n], err)
		}
		start := time.Now()
		read := make(chan error, 1)
		go func() { _, err := b.Read(buf); read <- err }() // nothing comes
		var err error
		select {
		case err = <-read:
		case <-time.After(5 * time.Second):
			t.Fatal("a stalled read was never ended")
		}
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Fatalf("read of a stalled body: %v; want the stall", err)
		}
		if waited := time.Since(start); waited < idle {
			t.Errorf("the stall was called after %s, before idle (%s)", waited, idle)
		}
		if p.closed() != 1 {
			t.Errorf("body closed %d times by the guard; want once", p.closed())
		}
	})
	t.Run("slow caller, steady reads", func(t *testing.T) {
		p := newPipeBody()
		b := newIdleBody(p, idle)
		buf := make([]byte, 16)
		for i := range 3 {
			// Graph sends within idle of each Read; the caller then
			// takes its time before the next Read.
			go func() {
				time.Sleep(idle / 3)
				p.chunks <- "more"
			}()
			if _, err := b.Read(buf); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			time.Sleep(idle * 3 / 2)
		}
		go close(p.chunks)
		if _, err := b.Read(buf); err != io.EOF {
			t.Fatalf("last read: %v; want EOF", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * idle)
		if p.closed() != 1 {
			t.Errorf("body closed %d times; want once, by its reader", p.closed())
		}
		if b.stalled.Load() {
			t.Error("a body read within idle each time was called stalled")
		}
	})
	t.Run("read to its end, not yet closed", func(t *testing.T) {
		b := newIdleBody(io.NopCloser(strings.NewReader("whole")), idle)
		defer b.Close()
		if got, err := io.ReadAll(b); err != nil || string(got) != "whole" {
			t.Fatalf("read %q, %v", got, err)
		}
		if b.timer.Stop() {
			t.Error("the timer was still set after the body's end")
		}
		b.check() // a check that was already running when the end came
		if b.timer.Stop() {
			t.Error("a check after the body's end set the timer again")
		}
	})
}
