package policy

import (
	"context"
	"sync"
	"sync/atomic"
)

// Store holds the policy in force and swaps in a new one atomically when
// its Source has a new revision. A revision that does not load is rejected
// whole and the policy in force stays; so does it when the source cannot be
// read. Store is a Decider.
type Store struct {
	src Source
	cur atomic.Pointer[current]
	// OnReload, when set, is called after every reload attempt, with what
	// it did and the policy now in force. Attempts are serialised, so
	// calls never overlap.
	OnReload func(ReloadEvent)

	mu   sync.Mutex
	last string // Version of the revision last loaded or rejected
}

// current is the policy in force and the revision it came from.
type current struct {
	p   *Policy
	rev Revision // without Data
}

// ReloadOutcome says what a reload attempt did. The zero value is
// Unchanged.
type ReloadOutcome uint8

const (
	// Unchanged: the source holds the revision last loaded or rejected;
	// nothing was loaded.
	Unchanged ReloadOutcome = iota
	// Loaded: a new revision loaded and is in force.
	Loaded
	// Rejected: a new revision did not load; the policy in force stays.
	Rejected
	// Unreadable: the source could not be read; the policy in force
	// stays.
	Unreadable
)

func (o ReloadOutcome) String() string {
	switch o {
	case Loaded:
		return "loaded"
	case Rejected:
		return "rejected"
	case Unreadable:
		return "unreadable"
	default:
		return "unchanged"
	}
}

// ReloadEvent is one reload attempt, as OnReload sees it.
type ReloadEvent struct {
	Outcome ReloadOutcome
	// Policy is the policy in force after the attempt.
	Policy *Policy
	// Revision is what was read, without its Data: its Version and Name.
	// Zero when the source was Unreadable.
	Revision Revision
	// Err says why the revision was Rejected (a *LoadError listing every
	// problem) or the source Unreadable; nil otherwise.
	Err error
}

// NewStore loads the policy file; it fails if the file does not load.
func NewStore(file string) (*Store, error) {
	return OpenStore(context.Background(), FileSource{Path: file})
}

// OpenStore reads src and loads its revision; it fails, and the proxy must
// not start, if the source cannot be read or its revision does not load.
func OpenStore(ctx context.Context, src Source) (*Store, error) {
	rev, err := src.Read(ctx)
	if err != nil {
		return nil, err
	}
	p, err := Parse(rev.Name, rev.Data)
	if err != nil {
		return nil, err
	}
	s := &Store{src: src, last: rev.Version}
	rev.Data = nil
	s.cur.Store(&current{p: p, rev: rev})
	return s, nil
}

// Policy returns the policy in force.
func (s *Store) Policy() *Policy { return s.cur.Load().p }

// Revision returns the revision the policy in force came from, without its
// Data.
func (s *Store) Revision() Revision { return s.cur.Load().rev }

// CallerForApp names a caller by the policy in force.
func (s *Store) CallerForApp(tenantID, appID string) (string, bool) {
	return s.Policy().CallerForApp(tenantID, appID)
}

// CallerForCert names a caller by the policy in force.
func (s *Store) CallerForCert(sha256Hex, sha1Hex string) (string, bool) {
	return s.Policy().CallerForCert(sha256Hex, sha1Hex)
}

// Limits returns a caller's limits under the policy in force.
func (s *Store) Limits(caller string) Limits { return s.Policy().Limits(caller) }

// Decide decides with the policy in force.
func (s *Store) Decide(a Args) Decision { return s.Policy().Decide(a) }

// Route routes with the policy in force; the Routed decides by it too.
func (s *Store) Route(caller string, req Request) Routed { return s.Policy().Route(caller, req) }

// RouteInto routes into rt by the policy in force; see Decider.
func (s *Store) RouteInto(rt *Routed, caller string, actor *Actor, req *Request) {
	s.Policy().RouteInto(rt, caller, actor, req)
}

// CallerForDelegatedApp names a delegated caller by the policy in force.
func (s *Store) CallerForDelegatedApp(appID string) (string, bool) {
	return s.Policy().CallerForDelegatedApp(appID)
}

// Reload reads the source again and loads its revision even if it was
// loaded or rejected before (SIGHUP). It returns why the revision was
// rejected or the source unreadable.
func (s *Store) Reload() error {
	return s.reload(context.Background(), true).Err
}

// reload reads the source and, when its revision is new (or always, when
// force is set), loads it.
func (s *Store) reload(ctx context.Context, force bool) ReloadEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ev ReloadEvent
	rev, err := s.src.Read(ctx)
	switch {
	case err != nil:
		ev.Outcome, ev.Err = Unreadable, err
	case !force && rev.Version == s.last:
		ev.Outcome = Unchanged
	default:
		// A rejected revision is remembered too: it is not loaded (nor
		// reported) again at every poll, only when the source changes.
		s.last = rev.Version
		var p *Policy
		if p, ev.Err = Parse(rev.Name, rev.Data); ev.Err != nil {
			ev.Outcome = Rejected
			break
		}
		ev.Outcome = Loaded
		rev.Data = nil
		if old := s.cur.Load(); old.p.Digest == p.Digest {
			// The same rules under a new version (a rollback that sets
			// the old text again): the compiled policy stays.
			p = old.p
		}
		s.cur.Store(&current{p: p, rev: rev})
	}
	rev.Data = nil
	if ev.Outcome != Unreadable {
		ev.Revision = rev
	}
	ev.Policy = s.Policy()
	if s.OnReload != nil {
		s.OnReload(ev)
	}
	return ev
}

// Watch reloads whenever the source may have changed (Source.Watch) until
// ctx ends, and loads the source again on every value received from
// signals (SIGHUP), even if its revision is not new. It returns the
// source's error if the source cannot be watched.
func (s *Store) Watch(ctx context.Context, signals <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The source only signals; reloads run here, one at a time, so that a
	// slow read (a vault timing out) holds back the next poll rather than
	// stacking reads up.
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.src.Watch(wctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case err := <-done:
			return err
		case <-signals:
			s.reload(ctx, true)
		case <-changed:
			s.reload(ctx, false)
		}
	}
}
