package auditlog

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The writer: the goroutine that takes sealed lines off the queue in
// batches and writes each batch to every sink, in parallel, with the
// backlog of a sink that failed (log.go starts it).

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
	buf := make([][]byte, 0, l.o.BatchSize)
	var id uint64
	var linger *time.Timer
	if l.o.Linger > 0 {
		linger = time.NewTimer(time.Hour)
		linger.Stop()
	}
	for line := range l.queue {
		l.writing.Add(1)
		start := time.Now()
		lines := append(buf[:0], line)
		open := l.drain(&lines)
		if open && linger != nil && len(lines) < l.o.BatchSize {
			linger.Reset(2 * l.o.Linger)
		wait:
			for len(lines) < l.o.BatchSize && !l.pressed() {
				select {
				case more, ok := <-l.queue:
					if !ok {
						break wait
					}
					l.writing.Add(1)
					lines = append(lines, more)
					if time.Since(start) >= l.o.Linger {
						break wait
					}
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		id++
		held := l.write(&batch{id: id, lines: lines, opened: start})
		l.writing.Add(-int64(len(lines)))
		if held {
			// A failing sink is still writing this batch: the lines are
			// its until it returns.
			buf = make([][]byte, 0, l.o.BatchSize)
		} else {
			buf = lines
		}
	}
}

// drain appends what is queued now to the batch, up to BatchSize, and
// reports whether the queue is still open.
func (l *Log) drain(lines *[][]byte) bool {
	for len(*lines) < l.o.BatchSize {
		select {
		case more, ok := <-l.queue:
			if !ok {
				return false
			}
			l.writing.Add(1)
			*lines = append(*lines, more)
		default:
			return true
		}
	}
	return true
}

// pressed tells whether the records accepted and not written fill the
// queue: a batch held open for more would then only refuse calls until it
// closes, so it is written at once.
func (l *Log) pressed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unwrittenLocked() >= cap(l.queue)
}

// write gives a batch to every sink and returns once one has taken it.
// A healthy sink's failures are retried, with backoff, within the retry
// budget; after that it is marked failing and gets one try per batch until
// it succeeds again, a try that holds up no other sink. While every sink
// is failing nothing is given up: the batch is offered again every second
// until one takes it, and meanwhile the log is down and refuses new
// reservations. write reports whether a write of the batch is still in
// flight on a sink that did not take it in time, which then holds its
// lines.
func (l *Log) write(b *batch) (held bool) {
	// The budget runs from when the batch was opened, not from when it
	// was handed over: records waited for it meanwhile, unwritten.
	deadline := b.opened.Add(l.o.RetryBudget)
	for {
		took := l.offer(b, deadline)
		if took {
			l.mu.Lock()
			for _, st := range l.sinks {
				switch {
				case st.took == b.id:
				case st.busy != nil && st.busy.batch == b:
					// Its outcome is counted when it ends.
					st.busy.orphaned, held = true, true
				default:
					l.missLocked(st, b.lines)
				}
			}
			l.mu.Unlock()
			l.setDown(false)
			return held
		}
		l.setDown(true)
		time.Sleep(time.Second)
		deadline = time.Now().Add(l.o.RetryBudget)
	}
}

// offer gives the batch to every sink at once (a sink that hangs delays no
// other) and reports whether one took it. It returns when every healthy
// sink has taken the batch or run out of budget; a failing sink's try is
// waited for only while no sink has taken the batch.
func (l *Log) offer(b *batch, deadline time.Time) bool {
	l.mu.Lock()
	probe := make([]bool, len(l.sinks))
	healthy := 0
	for i, st := range l.sinks {
		probe[i] = st.failing
		if !st.failing {
			healthy++
		}
	}
	l.mu.Unlock()
	if len(l.sinks) == 1 {
		return l.writeSink(l.sinks[0], b, deadline, probe[0], nil)
	}
	type result struct{ ok, probe bool }
	results := make(chan result, len(l.sinks))
	taken := make(chan struct{})
	for i, st := range l.sinks {
		go func() { results <- result{l.writeSink(st, b, deadline, probe[i], taken), probe[i]} }()
	}
	ok, closed := false, false
	for range l.sinks {
		r := <-results
		ok = ok || r.ok
		if !r.probe {
			healthy--
		}
		if ok && healthy == 0 && !closed {
			close(taken)
			closed = true
		}
	}
	return ok
}

// writeSink reports whether the sink took the batch by the deadline. A
// probe (a failing sink's try) gets one attempt, stops waiting once taken
// is closed, and is not made at all while the sink is still inside the
// write of an earlier batch.
func (l *Log) writeSink(st *sinkState, b *batch, deadline time.Time, probe bool, taken <-chan struct{}) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var elsewhere <-chan struct{} // a healthy sink is waited for until its deadline
	if probe {
		elsewhere = taken
	}
	backoff := 50 * time.Millisecond
	for {
		l.mu.Lock()
		if st.took == b.id {
			// A write left running past an earlier deadline took it.
			l.mu.Unlock()
			return true
		}
		a := st.busy
		switch {
		case a != nil && a.batch != b && probe:
			l.mu.Unlock()
			return false
		case a == nil && !time.Now().Before(deadline):
			l.failLocked(st, fmt.Errorf("retry budget of %s spent", l.o.RetryBudget))
			l.mu.Unlock()
			return false
		case a == nil:
			a = l.startLocked(st, b, deadline)
		}
		l.mu.Unlock()
		select {
		case <-a.done:
		case <-elsewhere:
			return false
		case <-timer.C:
			l.mu.Lock()
			if st.busy == a {
				// The write outlived the budget: a sink that ignores its
				// context, or a write the kernel will not interrupt. It is
				// not waited for, nor repeated beside itself.
				l.failLocked(st, fmt.Errorf("a write is still blocked after the retry budget of %s", l.o.RetryBudget))
				l.mu.Unlock()
				return false
			}
			l.mu.Unlock()
			// It ended as the budget did; the checks above stop here.
		}
		if a.batch != b {
			continue // an earlier batch's write ended; now this one
		}
		if a.err == nil {
			return true
		}
		if probe || !time.Now().Add(backoff).Before(deadline) {
			l.mu.Lock()
			l.failLocked(st, a.err)
			l.mu.Unlock()
			return false
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// startLocked starts a write of the batch on the sink, its context bounded
// by the deadline. The attempt settles the sink's counters itself when it
// ends, since the writer may no longer be waiting for it.
func (l *Log) startLocked(st *sinkState, b *batch, deadline time.Time) *attempt {
	a := &attempt{batch: b, done: make(chan struct{})}
	st.busy = a
	// A recovering sink writes what it missed first, in chain order.
	lines, pending := b.lines, len(st.backlog)
	if pending > 0 {
		lines = append(st.backlog[:pending:pending], b.lines...)
	}
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := st.sink.Write(ctx, lines)
		cancel()
		l.mu.Lock()
		a.err, st.busy = err, nil
		switch {
		case err == nil:
			if st.failing {
				l.log.Info("audit sink recovered", "sink", st.sink.Name(), "backlog", pending)
			}
			st.failing, st.took = false, b.id
			st.written += uint64(len(lines))
			// What it missed while this write was under way stays.
			st.backlog = slices.Clip(st.backlog[pending:])
			if len(st.backlog) == 0 {
				st.backlog = nil
			}
		case a.orphaned:
			l.missLocked(st, b.lines)
		}
		l.mu.Unlock()
		close(a.done)
	}()
	return a
}

// missLocked keeps the lines a failing sink missed for its recovery, as
// far as its backlog has room, and gives the rest up for it.
func (l *Log) missLocked(st *sinkState, lines [][]byte) {
	keep := min(max(l.o.Backlog-len(st.backlog), 0), len(lines))
	st.backlog = append(st.backlog, lines[:keep]...)
	st.failed += uint64(len(lines) - keep)
}

// flushBacklog gives a sink that still holds records it missed one last
// write of them, at shutdown, within ctx; no write of the sink's is in
// progress.
func (l *Log) flushBacklog(ctx context.Context, st *sinkState) {
	l.mu.Lock()
	lines := st.backlog
	l.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := st.sink.Write(ctx, lines); err != nil {
		l.giveUpBacklog(st, err)
		return
	}
	l.mu.Lock()
	st.written += uint64(len(lines))
	st.failing, st.backlog = false, nil
	l.mu.Unlock()
}

// giveUpBacklog counts the records a sink still holds as failed.
func (l *Log) giveUpBacklog(st *sinkState, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(st.backlog); n > 0 {
		st.failed += uint64(n)
		st.backlog = nil
		l.log.Error("audit sink: records it missed were not written at shutdown", "sink", st.sink.Name(), "records", n, "error", err)
	}
}

func (l *Log) failLocked(st *sinkState, err error) {
	if !st.failing {
		l.log.Error("audit sink failing", "sink", st.sink.Name(), "error", err)
	}
	st.failing = true
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
