package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
)

// WriterSink writes lines to an io.Writer, such as standard output, which
// Container Apps ships to Log Analytics.
//
// A write that blocks (standard output is a pipe nobody reads) is not cut
// off at the context's deadline: a write deadline would stop it part-way,
// leaving half a line in the stream and the lines before it to be written
// again by the retry. The Log stops waiting for it instead, counts the sink
// as failing, and lets the write finish: the batch then reaches the stream
// once, whole, in order. A WriterSink serves one Log: it keeps its batch
// buffer between writes.
type WriterSink struct {
	SinkName string
	W        io.Writer

	buf []byte // the last batch written, its room kept for the next
}

// Name implements Sink.
func (s *WriterSink) Name() string { return s.SinkName }

// Write writes the batch with one call, unless ctx has already ended.
func (s *WriterSink) Write(ctx context.Context, lines [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(lines) == 1 {
		_, err := s.W.Write(lines[0])
		return err
	}
	// The buffer is the sink's own between writes: the Log never calls
	// Write again before the previous Write has returned, and an
	// io.Writer keeps nothing of what it is given.
	buf := s.buf[:0]
	for _, l := range lines {
		buf = append(buf, l...)
	}
	if cap(buf) <= maxKeptBuffer {
		s.buf = buf
	}
	_, err := s.W.Write(buf)
	return err
}

// Close implements Sink.
func (s *WriterSink) Close() error { return nil }

// FileSink appends lines to a file, rotating it at MaxBytes (the file
// becomes path.1, path.1 becomes path.2, and so on up to MaxFiles), syncing
// it to disk at rotation, at close and at most SyncEvery after a write.
type FileSink struct {
	path     string
	maxBytes int64
	maxFiles int
	every    time.Duration

	mu sync.Mutex
	// f is nil after Close, and after a rotation that closed the old file
	// but could not open the new one: the next Write opens the file again
	// (and rotates again if it must) instead of failing for ever on a
	// closed descriptor.
	f       *os.File
	closed  bool
	size    int64
	dirty   bool
	buf     []byte // the last batch written, its room kept for the next
	stop    chan struct{}
	stopped chan struct{}
}

// maxKeptBuffer bounds the batch buffer a FileSink keeps between writes.
const maxKeptBuffer = 1 << 20

// OpenFile opens (or creates) the file sink at path. It fails at once if
// the file cannot be written.
func OpenFile(path string, maxBytes int64, maxFiles int, syncEvery time.Duration) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &FileSink{path: path, maxBytes: maxBytes, maxFiles: maxFiles, every: syncEvery, f: f, size: st.Size(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.syncLoop()
	return s, nil
}

// Name implements Sink.
func (s *FileSink) Name() string { return "file" }

// Write appends the batch, rotating first if it would pass the size limit.
// It starts nothing once ctx has ended; a write already under way (a hung
// disk, a stalled network share) is not interrupted, as for WriterSink: the
// Log stops waiting for it at the deadline and lets it finish, so that no
// half-written batch is followed by its own retry.
func (s *FileSink) Write(ctx context.Context, lines [][]byte) error {
	s.mu.Lock()
	// One write per batch, from a buffer kept between batches.
	buf := s.buf[:0]
	for _, l := range lines {
		buf = append(buf, l...)
	}
	if cap(buf) <= maxKeptBuffer {
		s.buf = buf
	}
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("audit file closed")
	}
	// The lock may have been held by a sync stuck on the disk.
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.f == nil {
		if err := s.reopen(); err != nil {
			return fmt.Errorf("reopening %s: %w", s.path, err)
		}
	}
	if s.size > 0 && s.size+int64(len(buf)) > s.maxBytes {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("rotating %s: %w", s.path, err)
		}
	}
	n, err := s.f.Write(buf)
	s.size += int64(n)
	s.dirty = true
	if err != nil {
		// A partial write would leave half a line: cut it off so the next
		// write starts on a fresh line and the chain stays verifiable.
		if n > 0 {
			s.f.Truncate(s.size - int64(n))
			s.size -= int64(n)
		}
		return err
	}
	return nil
}

// reopen opens the file to append to it again.
func (s *FileSink) reopen() error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size, s.dirty = f, st.Size(), false
	return nil
}

// rotate moves the file aside and starts a new one. The chain runs on
// across the files by construction — the log seals records, the sink only
// cuts between batches — so the new file's first record names the old
// file's last as its prev, and audit verify links the files by that.
func (s *FileSink) rotate() error {
	if err := s.f.Sync(); err != nil {
		return err
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return err
	}
	for i := s.maxFiles - 1; i >= 1; i-- {
		os.Rename(s.path+"."+strconv.Itoa(i), s.path+"."+strconv.Itoa(i+1))
	}
	if s.maxFiles >= 1 {
		if err := os.Rename(s.path, s.path+".1"); err != nil {
			return err
		}
	}
	os.Remove(s.path + "." + strconv.Itoa(s.maxFiles+1))
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if s.maxFiles < 1 {
		flags |= os.O_TRUNC // no history kept
	}
	f, err := os.OpenFile(s.path, flags, 0o600)
	if err != nil {
		return err
	}
	s.f, s.size, s.dirty = f, 0, false
	return syncDir(filepath.Dir(s.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *FileSink) syncLoop() {
	defer close(s.stopped)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if s.dirty && s.f != nil {
				s.f.Sync()
				s.dirty = false
			}
			s.mu.Unlock()
		}
	}
}

// Close syncs and closes the file.
func (s *FileSink) Close() error {
	close(s.stop)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	return err
}

// LastRecord returns the sequence number and hash of the last complete
// record in the file at path, so that a restarted replica continues its
// chain. When that file is missing or empty — a rotation moved it to
// path.1 and the process stopped before writing the new one — the last
// record of path.1 is the one to continue; ok is false when neither has a
// record, and the replica then starts a new chain at seq 0.
func LastRecord(path string) (seq uint64, hash string, ok bool, err error) {
	seq, hash, ok, err = lastRecord(path)
	if ok || err != nil {
		return seq, hash, ok, err
	}
	return lastRecord(path + ".1")
}

func lastRecord(path string) (seq uint64, hash string, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last []byte
	for sc.Scan() {
		last = append(last[:0], sc.Bytes()...)
	}
	if err := sc.Err(); err != nil || len(last) == 0 {
		return 0, "", false, err
	}
	var r struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(last, &r); err != nil {
		return 0, "", false, fmt.Errorf("%s: last line is not a record: %w", path, err)
	}
	return r.Seq, r.Hash, true, nil
}

// MonitorSink uploads records to a Log Analytics custom table through the
// Logs Ingestion API: a data collection endpoint (or rule endpoint), the
// rule's immutable id and its stream. Uploads are bounded to the API's
// 1 MB per call; the Azure SDK retries throttling and server errors within
// the deadline of Write's context, which bounds every upload and retry (an
// endpoint that accepts and never answers included).
//
// A batch larger than one upload goes in several; when one fails, the
// uploads before it are remembered, and the Log's retry of the same batch
// sends only the rest. Write is not safe for concurrent use; the Log calls
// it from one goroutine at a time.
type MonitorSink struct {
	Client *azlogs.Client
	RuleID string
	Stream string

	// sentFirst is the first line of a batch whose upload failed after
	// sent of its lines had been taken.
	sentFirst []byte
	sent      int
}

// maxUpload stays under the Logs Ingestion API's 1 MB limit per call.
const maxUpload = 900 << 10

// Name implements Sink.
func (s *MonitorSink) Name() string { return "azureMonitor" }

// Write uploads the batch as JSON arrays of at most maxUpload bytes, each
// upload bounded by ctx.
func (s *MonitorSink) Write(ctx context.Context, lines [][]byte) error {
	// Lines are unique (each holds its hash), so the first line tells the
	// retry of a batch from another batch.
	done := 0
	if len(lines) > 0 && s.sentFirst != nil && bytes.Equal(lines[0], s.sentFirst) {
		done = min(s.sent, len(lines))
	}
	s.sentFirst, s.sent = nil, 0
	var buf bytes.Buffer
	n := 0 // lines in buf
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		buf.WriteByte(']')
		_, err := s.Client.Upload(ctx, s.RuleID, s.Stream, buf.Bytes(), nil)
		buf.Reset()
		if err != nil {
			if done > 0 {
				s.sentFirst, s.sent = lines[0], done
			}
			return err
		}
		done += n
		n = 0
		return nil
	}
	var row []byte
	for _, line := range lines[done:] {
		row = rawRecordRow(row[:0], bytes.TrimSuffix(line, []byte("\n")))
		if buf.Len() > 0 && buf.Len()+len(row)+2 > maxUpload {
			if err := flush(); err != nil {
				return err
			}
		}
		if buf.Len() == 0 {
			buf.WriteByte('[')
		} else {
			buf.WriteByte(',')
		}
		buf.Write(row)
		n++
	}
	return flush()
}

// RawRecordColumn is the column that carries a record's line exactly as
// written and hashed. The table parses the record into typed columns,
// which do not keep that line (times to 100 ns, dynamic values), so
// audit verify checks an export by it.
const RawRecordColumn = "RawRecord"

// rawRecordRow appends the row uploaded for a record's line: the record's
// object with the line itself added as RawRecordColumn.
func rawRecordRow(row, line []byte) []byte {
	row = append(row, line[:len(line)-1]...) // the object without its '}'
	row = append(row, `,"`+RawRecordColumn+`":`...)
	row = appendString(row, string(line))
	return append(row, '}')
}

// Close implements Sink.
func (s *MonitorSink) Close() error { return nil }
