package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sink writes sealed record lines somewhere durable.
type Sink interface {
	// Name identifies the sink in logs and Stats.
	Name() string
	// Write writes the lines (each ending in '\n') in order, all or
	// nothing as far as the sink can tell; an error means "try again".
	// ctx carries the deadline of the log's retry budget, which a sink
	// should honour; the log stops waiting at the deadline either way (see
	// Options.RetryBudget). The log never calls Write again on a sink
	// before its previous Write has returned.
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
	// QueueSize bounds the records accepted but not yet written: those
	// queued, those reserved for calls under way, and those in the batch
	// the writer holds until a sink takes it. Default 4096.
	QueueSize int
	// BatchSize bounds the records written in one sink call (group
	// commit). Default 256.
	BatchSize int
	// Linger is how long a batch stays open for more records after its
	// first: the first record to arrive after Linger closes it, and a
	// timer at twice Linger closes it when none does. Default 20ms;
	// negative writes each batch at once.
	Linger time.Duration
	// RetryBudget bounds how long a batch may wait for a healthy sink:
	// attempts and retries together, from when the batch was opened. Each
	// attempt's context carries what is left of it as its deadline, and a
	// write still blocked when it runs out (a service that accepts and
	// never answers, a hung disk, a pipe nobody reads) is not waited for
	// any longer: the sink is marked failing at once, and the write is
	// left to finish, its outcome counted when it does. With every sink
	// failing the log is down: Reserve fails and Ready reports it, so the
	// proxy refuses calls (fails closed) within the budget of the first
	// batch no sink took. Default 30s.
	RetryBudget time.Duration
	// Backlog bounds the records a failing sink keeps, while another sink
	// takes them, to write when it recovers, ahead of the batch it
	// recovers with: a sink late for a while (an outage of Logs
	// Ingestion, a hung disk) misses nothing. Records beyond it are
	// given up for that sink and counted (SinkStats.Failed). Default
	// 16384; negative keeps none.
	Backlog int
	// Logger receives sink failures; nil discards them.
	Logger *slog.Logger
	// Checkpoint has the chain head signed now and then (checkpoint.go).
	Checkpoint CheckpointOptions
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
	// writing counts the records the writer has taken off the queue and
	// no sink has taken yet (its open batch): they are accepted and not
	// written, as the queued ones are, and count against QueueSize.
	writing atomic.Int64

	mu       sync.Mutex
	chain    chain
	reserved int
	closing  bool // Close has begun: no new room, the room reserved is awaited
	closed   bool
	down     bool // every sink failing
	rejected uint64
	sinks    []*sinkState

	// sinceCheckpoint counts the records (checkpoints not counted)
	// appended since the head was last taken to be signed; cpKick asks
	// for a checkpoint before the interval is up.
	sinceCheckpoint int
	cpKick          chan struct{}
	cpStop, cpDone  chan struct{}
	cpStopOnce      sync.Once
	cpStats         CheckpointStats
}

type sinkState struct {
	sink    Sink
	failing bool
	written uint64
	failed  uint64
	// busy is the sink's write in flight, nil when none is. A write that
	// outlives its deadline is left running rather than started again
	// beside it: the sink sees one write at a time, in batch order, and a
	// batch it takes late is neither lost nor written twice.
	busy *attempt
	// took is the id of the last batch the sink took.
	took uint64
	// backlog holds, in chain order, the records the sink missed while
	// failing (at most Options.Backlog): its next write carries them
	// first.
	backlog [][]byte
}

// batch is one group commit. Its id tells a retry of the batch from the
// next batch.
type batch struct {
	id     uint64
	lines  [][]byte
	opened time.Time
}

// attempt is one Write call on a sink, run on a goroutine of its own so
// that the log can stop waiting for it at its deadline whether or not the
// sink honours its context.
type attempt struct {
	batch *batch
	done  chan struct{}
	err   error // Write's result; read after done is closed
	// orphaned (under Log.mu) means the writer has moved past the batch
	// without this sink: the attempt counts the batch as failed for the
	// sink if it ends in an error.
	orphaned bool
}

// SinkStats describe one sink.
type SinkStats struct {
	Name    string `json:"name"`
	Failing bool   `json:"failing"`
	// Written and Failed count records; Failed ones were given up on for
	// this sink, while another sink took them: beyond its backlog, or
	// still in it at shutdown.
	Written uint64 `json:"written"`
	Failed  uint64 `json:"failed"`
	// Pending counts the records the sink missed and will write when it
	// recovers (its backlog).
	Pending int `json:"pending"`
}

// Stats describe the pipeline.
type Stats struct {
	// Queued counts the records accepted and not yet taken by a sink:
	// queued, or in the batch being written.
	Queued   int `json:"queued"`
	Reserved int `json:"reserved"`
	// Rejected counts reservations refused (calls answered 503).
	Rejected uint64      `json:"rejected"`
	Down     bool        `json:"down"`
	Sinks    []SinkStats `json:"sinks"`
	// Checkpoints is nil when checkpoints are off.
	Checkpoints *CheckpointStats `json:"checkpoints,omitempty"`
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
	if o.Backlog == 0 {
		o.Backlog = 16384
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
	if cp := &l.o.Checkpoint; cp.Signer != nil {
		if cp.Every <= 0 {
			cp.Every = 10000
		}
		if cp.Interval <= 0 {
			cp.Interval = 5 * time.Minute
		}
		if cp.Timeout <= 0 {
			cp.Timeout = 10 * time.Second
		}
		l.cpKick, l.cpStop, l.cpDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go l.checkpoints(l.cpStop, l.cpDone)
	}
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
	case l.closed || l.closing:
		l.rejected++
		return ErrClosed
	case l.down:
		l.rejected++
		return fmt.Errorf("%w: every sink is failing", ErrUnavailable)
	case l.unwrittenLocked()+n > cap(l.queue):
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
	if l.cpKick != nil && rec.Kind != KindCheckpoint {
		if l.sinceCheckpoint++; l.sinceCheckpoint == l.o.Checkpoint.Every {
			select {
			case l.cpKick <- struct{}{}:
			default:
			}
		}
	}
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
	case l.unwrittenLocked() >= cap(l.queue):
		return fmt.Errorf("%w: queue full", ErrUnavailable)
	}
	return nil
}

// unwrittenLocked counts the records accepted and not yet written: queued,
// reserved, and in the writer's batch. The one record the writer may be
// between the queue and its count is the queue's to spare: Append's send
// never blocks, since the queue alone holds no more than was reserved.
func (l *Log) unwrittenLocked() int {
	return len(l.queue) + l.reserved + int(l.writing.Load())
}

// Stats returns the pipeline's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Queued: len(l.queue) + int(l.writing.Load()), Reserved: l.reserved, Rejected: l.rejected, Down: l.down}
	for _, st := range l.sinks {
		s.Sinks = append(s.Sinks, SinkStats{Name: st.sink.Name(), Failing: st.failing, Written: st.written, Failed: st.failed, Pending: len(st.backlog)})
	}
	if l.cpKick != nil {
		cp := l.cpStats
		s.Checkpoints = &cp
	}
	return s
}

// Close stops taking records, appends a closing record — with checkpoints
// on, one that signs the last record before it — writes everything queued,
// and closes the sinks; ctx bounds the wait. It first waits, at most
// maxCloseWait, for the records that room is reserved for: a handler the
// server stopped waiting for at shutdown may still be writing the record
// of a call it forwarded.
func (l *Log) Close(ctx context.Context, final *Record) error {
	l.awaitReserved(ctx)
	if l.cpStop != nil {
		l.cpStopOnce.Do(func() { close(l.cpStop) })
		select {
		case <-l.cpDone:
		case <-ctx.Done():
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	// From here no call's record is taken: the head signed below stays
	// the head until the closing record is sealed after it.
	l.closed = true
	writeFinal := final != nil && !l.down
	sign := writeFinal && l.cpStop != nil && l.chain.prev != ""
	replica, seq, hash := l.chain.replica, l.chain.seq-1, l.chain.prev
	l.mu.Unlock()
	if sign {
		final.Checkpoint = l.sign(ctx, KindClose, replica, seq, hash)
	}
	l.mu.Lock()
	if writeFinal && len(l.queue) < cap(l.queue) {
		if line, err := l.chain.seal(final); err == nil {
			l.queue <- line
		}
	}
	close(l.queue)
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("audit: %d records not written at shutdown: %w", len(l.queue), ctx.Err())
	}
	var errs []error
	for _, st := range l.sinks {
		// A failing sink may still be inside a write the writer stopped
		// waiting for; closing the sink under that write would block on it
		// (the file sink's lock) or pull the file from under it.
		l.mu.Lock()
		a := st.busy
		l.mu.Unlock()
		if a != nil {
			select {
			case <-a.done:
			case <-ctx.Done():
				l.giveUpBacklog(st, ctx.Err())
				errs = append(errs, fmt.Errorf("%s: a write is still in progress; the sink is left open: %w", st.sink.Name(), ctx.Err()))
				continue
			}
		}
		l.flushBacklog(ctx, st)
		if err := st.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.sink.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// maxCloseWait bounds Close's wait for the records room is reserved for.
const maxCloseWait = 5 * time.Second

// awaitReserved refuses new room and waits until the room reserved is
// used or released, for at most maxCloseWait or ctx.
func (l *Log) awaitReserved(ctx context.Context) {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	deadline := time.NewTimer(maxCloseWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		left := l.reserved
		l.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
