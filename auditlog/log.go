package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Sink writes sealed record lines somewhere durable.
type Sink interface {
	// Name identifies the sink in logs and Stats.
	Name() string
	// Write writes the lines (each ending in '\n') in order, all or
	// nothing as far as the sink can tell; an error means "try again".
	Write(ctx context.Context, lines [][]byte) error
	// Close flushes and releases the sink.
	Close() error
}

var (
	// ErrUnavailable means the log cannot take records now: its queue is
	// full or every sink is failing. The proxy answers 503.
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrClosed means the log has shut down.
	ErrClosed = errors.New("audit log closed")
)

// Options configure a Log.
type Options struct {
	// Replica names this replica's chain.
	Replica string
	// Sinks receive every record; at least one.
	Sinks []Sink
	// QueueSize bounds the records accepted but not yet written. Default
	// 4096.
	QueueSize int
	// BatchSize bounds the records written in one sink call (group
	// commit). Default 256.
	BatchSize int
	// Linger is how long a batch stays open for more records after its
	// first: the first record to arrive after Linger closes it, and a
	// timer at twice Linger closes it when none does. Default 20ms;
	// negative writes each batch at once.
	Linger time.Duration
	// RetryBudget is how long a healthy sink's failing write is retried
	// before the sink is marked failing. Default 30s.
	RetryBudget time.Duration
	// Logger receives sink failures; nil discards them.
	Logger *slog.Logger
}

// Log is the audit pipeline: callers reserve room for their records before
// they act, so a record is never refused after the fact, and a writer
// goroutine seals nothing but writes batches to every sink. It fails
// closed: when the queue is full or every sink is failing, Reserve fails
// and the proxy forwards nothing until the log recovers, by itself.
type Log struct {
	o     Options
	log   *slog.Logger
	queue chan []byte
	done  chan struct{}

	mu       sync.Mutex
	chain    chain
	reserved int
	closed   bool
	down     bool // every sink failing
	rejected uint64
	sinks    []*sinkState
}

type sinkState struct {
	sink    Sink
	failing bool
	written uint64
	failed  uint64
	lastErr error
}

// SinkStats describe one sink.
type SinkStats struct {
	Name    string `json:"name"`
	Failing bool   `json:"failing"`
	// Written and Failed count records; Failed ones were given up on for
	// this sink after its retry budget, while another sink took them.
	Written uint64 `json:"written"`
	Failed  uint64 `json:"failed"`
}

// Stats describe the pipeline.
type Stats struct {
	Queued   int `json:"queued"`
	Reserved int `json:"reserved"`
	// Rejected counts reservations refused (calls answered 503).
	Rejected uint64      `json:"rejected"`
	Down     bool        `json:"down"`
	Sinks    []SinkStats `json:"sinks"`
}

// New starts a Log.
func New(o Options) (*Log, error) {
	if len(o.Sinks) == 0 {
		return nil, errors.New("audit: no sinks")
	}
	if o.QueueSize == 0 {
		o.QueueSize = 4096
	}
	if o.BatchSize == 0 {
		o.BatchSize = 256
	}
	if o.Linger == 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.RetryBudget == 0 {
		o.RetryBudget = 30 * time.Second
	}
	l := &Log{o: o, log: o.Logger, queue: make(chan []byte, o.QueueSize), done: make(chan struct{}),
		chain: chain{replica: o.Replica}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range o.Sinks {
		l.sinks = append(l.sinks, &sinkState{sink: s})
	}
	go l.run()
	return l, nil
}

// Continue makes the chain continue from a previous record, e.g. the last
// one in the file the file sink appends to. Call it before the first
// record.
func (l *Log) Continue(seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chain.seq, l.chain.prev = seq+1, hash
}

// Ticket is room reserved in the log for records to come.
type Ticket struct {
	l    *Log
	left int
}

// Reserve reserves room for n records, or fails with ErrUnavailable or
// ErrClosed. A caller that holds a ticket can always append.
func (l *Log) Reserve(n int) (*Ticket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.reserveLocked(n); err != nil {
		return nil, err
	}
	return &Ticket{l: l, left: n}, nil
}

func (l *Log) reserveLocked(n int) error {
	switch {
	case l.closed:
		l.rejected++
		return ErrClosed
	case l.down:
		l.rejected++
		return fmt.Errorf("%w: every sink is failing", ErrUnavailable)
	case len(l.queue)+l.reserved+n > cap(l.queue):
		l.rejected++
		return fmt.Errorf("%w: queue full", ErrUnavailable)
	}
	l.reserved += n
	return nil
}

// Grow reserves room for n more records on the ticket.
func (t *Ticket) Grow(n int) error {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if err := t.l.reserveLocked(n); err != nil {
		return err
	}
	t.left += n
	return nil
}

// Append seals rec into the chain and queues it. It fails only when the
// ticket's room is used up or rec cannot be encoded.
func (t *Ticket) Append(rec *Record) error {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.left == 0 {
		return errors.New("audit: ticket used up")
	}
	if l.closed {
		// A handler that outlived shutdown: its record cannot be written.
		return ErrClosed
	}
	line, err := l.chain.seal(rec)
	if err != nil {
		return err
	}
	t.left--
	l.reserved--
	l.queue <- line // never blocks: the room was reserved
	return nil
}

// Release gives back the room not used.
func (t *Ticket) Release() {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	t.l.reserved -= t.left
	t.left = 0
}

// Record appends one record of the proxy's own (genesis, policy). It fails
// like Reserve.
func (l *Log) Record(rec *Record) error {
	t, err := l.Reserve(1)
	if err != nil {
		return err
	}
	return t.Append(rec)
}

// Ready reports nil while the log takes records.
func (l *Log) Ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.down:
		return fmt.Errorf("%w: every sink is failing", ErrUnavailable)
	case len(l.queue)+l.reserved >= cap(l.queue):
		return fmt.Errorf("%w: queue full", ErrUnavailable)
	}
	return nil
}

// Stats returns the pipeline's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Queued: len(l.queue), Reserved: l.reserved, Rejected: l.rejected, Down: l.down}
	for _, st := range l.sinks {
		s.Sinks = append(s.Sinks, SinkStats{Name: st.sink.Name(), Failing: st.failing, Written: st.written, Failed: st.failed})
	}
	return s
}

// Close stops taking records, appends a closing record, writes everything
// queued, and closes the sinks; ctx bounds the wait.
func (l *Log) Close(ctx context.Context, final *Record) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if final != nil {
		if err := l.reserveLocked(1); err == nil {
			t := &Ticket{l: l, left: 1}
			l.mu.Unlock()
			t.Append(final)
			l.mu.Lock()
		}
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("audit: %d records not written at shutdown: %w", len(l.queue), ctx.Err())
	}
	var errs []error
	for _, st := range l.sinks {
		if err := st.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.sink.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// run writes queued lines in batches until the queue is closed and empty.
// A batch is what is queued when the writer gets to it plus what arrives
// while it is open: at a steady rate of calls, one sink write (one system
// call for the file sink) carries several records. The batch is closed by
// the first record that arrives after Linger, while the process is busy
// with that record's call anyway; only when calls stop does a timer, at
// twice Linger, close it. A timer at Linger itself would fire in the idle
// gaps between calls and wake the process for nothing else (on a busy
// proxy, a wake-up per batch). Records are never awaited by the calls that
// append them, so lingering delays no call.
func (l *Log) run() {
	defer close(l.done)
	batch := make([][]byte, 0, l.o.BatchSize)
	var linger *time.Timer
	if l.o.Linger > 0 {
		linger = time.NewTimer(time.Hour)
		linger.Stop()
	}
	for line := range l.queue {
		start := time.Now()
		batch = append(batch[:0], line)
		open := l.drain(&batch)
		if open && linger != nil && len(batch) < l.o.BatchSize {
			linger.Reset(2 * l.o.Linger)
		wait:
			for len(batch) < l.o.BatchSize {
				select {
				case more, ok := <-l.queue:
					if !ok {
						break wait
					}
					batch = append(batch, more)
					if time.Since(start) >= l.o.Linger {
						break wait
					}
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		l.write(batch)
	}
}

// drain appends what is queued now to the batch, up to BatchSize, and
// reports whether the queue is still open.
func (l *Log) drain(batch *[][]byte) bool {
	for len(*batch) < l.o.BatchSize {
		select {
		case more, ok := <-l.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, more)
		default:
			return true
		}
	}
	return true
}

// write gives a batch to every sink. A healthy sink's failures are
// retried, with backoff, for its retry budget; after that it is marked
// failing and gets one try per batch until it succeeds again. While every
// sink is failing nothing is given up: the batch is retried until one
// takes it, and meanwhile the log refuses new reservations.
func (l *Log) write(batch [][]byte) {
	for {
		ok := false
		for _, st := range l.sinks {
			if l.writeSink(st, batch) {
				ok = true
			}
		}
		if ok {
			l.setDown(false)
			for _, st := range l.sinks {
				l.mu.Lock()
				if st.lastErr != nil {
					st.failed += uint64(len(batch))
					st.lastErr = nil
				}
				l.mu.Unlock()
			}
			return
		}
		l.setDown(true)
		time.Sleep(time.Second)
	}
}

func (l *Log) setDown(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down != down {
		if down {
			l.log.Error("audit log down: every sink is failing; calls are refused until one recovers")
		} else {
			l.log.Info("audit log recovered")
		}
	}
	l.down = down
}

// writeSink reports whether the sink took the batch.
func (l *Log) writeSink(st *sinkState, batch [][]byte) bool {
	l.mu.Lock()
	failing := st.failing
	l.mu.Unlock()
	deadline := time.Now().Add(l.o.RetryBudget)
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := st.sink.Write(ctx, batch)
		cancel()
		l.mu.Lock()
		if err == nil {
			if st.failing {
				l.log.Info("audit sink recovered", "sink", st.sink.Name())
			}
			st.failing, st.lastErr = false, nil
			st.written += uint64(len(batch))
			l.mu.Unlock()
			return true
		}
		st.lastErr = err
		if failing || time.Now().Add(backoff).After(deadline) {
			if !st.failing {
				l.log.Error("audit sink failing", "sink", st.sink.Name(), "error", err)
			}
			st.failing = true
			l.mu.Unlock()
			return false
		}
		l.mu.Unlock()
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}
