package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Store holds the policy in force and swaps in a new one atomically when
// its file changes. A new file that does not load is rejected whole and the
// old policy stays in force. Store is a Decider.
type Store struct {
	file string
	cur  atomic.Pointer[Policy]
	// OnReload, when set, is called after every reload attempt with the
	// policy now in force and the reload's error (nil on success).
	OnReload func(p *Policy, err error)

	mu       sync.Mutex
	lastRead [32]byte // the file content last loaded or rejected
}

// NewStore loads file; it fails if the file does not load.
func NewStore(file string) (*Store, error) {
	p, err := LoadFile(file)
	if err != nil {
		return nil, err
	}
	s := &Store{file: file}
	s.cur.Store(p)
	if data, err := os.ReadFile(file); err == nil {
		s.lastRead = sha256.Sum256(data)
	}
	return s, nil
}

// Policy returns the policy in force.
func (s *Store) Policy() *Policy { return s.cur.Load() }

// CallerForApp names a caller by the policy in force.
func (s *Store) CallerForApp(tenantID, appID string) (string, bool) {
	return s.cur.Load().CallerForApp(tenantID, appID)
}

// CallerForCert names a caller by the policy in force.
func (s *Store) CallerForCert(sha256Hex, sha1Hex string) (string, bool) {
	return s.cur.Load().CallerForCert(sha256Hex, sha1Hex)
}

// Limits returns a caller's limits under the policy in force.
func (s *Store) Limits(caller string) Limits { return s.cur.Load().Limits(caller) }

// Decide decides with the policy in force.
func (s *Store) Decide(a Args) Decision { return s.cur.Load().Decide(a) }

// Route routes with the policy in force; the Routed decides by it too.
func (s *Store) Route(caller string, req Request) Routed { return s.cur.Load().Route(caller, req) }

// Reload loads the file again and swaps it in if it is valid and changed.
func (s *Store) Reload() error {
	_, err := s.reload(true)
	return err
}

// reload reads the file and, when it differs from what was last read (or
// always, when force is set), loads it. It reports whether it did.
func (s *Store) reload(force bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.file)
	var p *Policy
	if err == nil {
		sum := sha256.Sum256(data)
		if !force && bytes.Equal(sum[:], s.lastRead[:]) {
			return false, nil
		}
		s.lastRead = sum
		p, err = Parse(s.file, data)
	} else {
		err = fmt.Errorf("policy: %w", err)
	}
	if err == nil && p.Digest != s.cur.Load().Digest {
		s.cur.Store(p)
	}
	if s.OnReload != nil {
		s.OnReload(s.cur.Load(), err)
	}
	return true, err
}

// Watch reloads on every change of the file until ctx ends, and on every
// value received from signals (SIGHUP). It watches the file's directory, so
// that editors' rename-into-place and Kubernetes-style symlink swaps (a
// Container Apps secret volume) are seen; other files in the directory (an
// audit log beside the policy, say) are not. Changes are debounced, and a
// change that leaves the content as last read is no reload.
func (s *Store) Watch(ctx context.Context, signals <-chan struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(s.file)); err != nil {
		return err
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-signals:
			s.Reload()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !s.concerns(ev.Name) {
				continue
			}
			debounce = time.After(200 * time.Millisecond)
		case <-debounce:
			debounce = nil
			s.reload(false)
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
		}
	}
}

// concerns reports whether a change to name in the watched directory may
// change the policy file: the file itself, or the "..data"-style entries
// through which Kubernetes and Container Apps volumes swap their files.
func (s *Store) concerns(name string) bool {
	base := filepath.Base(name)
	return base == filepath.Base(s.file) || strings.HasPrefix(base, "..")
}
