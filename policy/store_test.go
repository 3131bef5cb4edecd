package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource serves whatever revision (or error) the test sets, and
// reports a change whenever the test pokes it.
type fakeSource struct {
	mu    sync.Mutex
	rev   Revision
	err   error
	reads int
	poke  chan struct{}
}

func newFakeSource(rev Revision) *fakeSource {
	return &fakeSource{rev: rev, poke: make(chan struct{})}
}

func (f *fakeSource) set(rev Revision, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev, f.err = rev, err
}

func (f *fakeSource) Read(context.Context) (Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return Revision{}, f.err
	}
	return f.rev, nil
}

func (f *fakeSource) Watch(ctx context.Context, changed func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.poke:
			changed()
		}
	}
}

// storeTexts are the baseline policy and variants of it.
func storeTexts(t *testing.T) (good, wider, broken []byte) {
	t.Helper()
	good, err := os.ReadFile("testdata/decide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wider = []byte(strings.Replace(string(good), "[$top, $filter]", "[$top, $filter, $orderby]", 1))
	if string(wider) == string(good) {
		t.Fatal("testdata/decide.yaml has no [$top, $filter] to widen")
	}
	broken = []byte(strings.Replace(string(good), "version: 1", "version: 2", 1))
	return good, wider, broken
}

func rev(version string, data []byte) Revision {
	return Revision{Version: version, Name: "https://vault.test/secrets/policy/" + version, Data: data}
}

// TestStoreReloadOutcomes starts each case from a store holding the good
// baseline as version v1 and changes one thing about what the source
// returns next.
func TestStoreReloadOutcomes(t *testing.T) {
	good, wider, broken := storeTexts(t)
	unreachable := errors.New("key vault https://vault.test: dial tcp: connection refused")
	tests := []struct {
		name        string
		next        Revision
		err         error
		force       bool
		want        ReloadOutcome
		wantVersion string // in force afterwards
		wantSame    bool   // the same compiled *Policy stays in force
		wantErr     string // in the event's error
	}{
		{name: "new version that loads", next: rev("v2", wider), want: Loaded, wantVersion: "v2"},
		{name: "new version that does not load", next: rev("v2", broken), want: Rejected, wantVersion: "v1", wantSame: true,
			wantErr: "https://vault.test/secrets/policy/v2"},
		{name: "same version", next: rev("v1", good), want: Unchanged, wantVersion: "v1", wantSame: true},
		{name: "same version, forced (SIGHUP)", next: rev("v1", good), force: true, want: Loaded, wantVersion: "v1", wantSame: true},
		{name: "new version with the same text", next: rev("v2", good), want: Loaded, wantVersion: "v2", wantSame: true},
		{name: "source unreadable", err: unreachable, want: Unreadable, wantVersion: "v1", wantSame: true, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource(rev("v1", good))
			s, err := OpenStore(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			first := s.Policy()
			var events []ReloadEvent
			s.OnReload = func(ev ReloadEvent) { events = append(events, ev) }
			src.set(tt.next, tt.err)

			ev := s.reload(t.Context(), tt.force)

			if ev.Outcome != tt.want {
				t.Errorf("outcome %v (%v); want %v", ev.Outcome, ev.Err, tt.want)
			}
			if got := s.Revision().Version; got != tt.wantVersion {
				t.Errorf("version in force %q; want %q", got, tt.wantVersion)
			}
			if (s.Policy() == first) != tt.wantSame {
				t.Errorf("the compiled policy stayed: %v; want %v", s.Policy() == first, tt.wantSame)
			}
			if ev.Policy != s.Policy() {
				t.Error("the event does not carry the policy in force")
			}
			if tt.wantErr == "" && ev.Err != nil || tt.wantErr != "" && (ev.Err == nil || !strings.Contains(ev.Err.Error(), tt.wantErr)) {
				t.Errorf("event error %v; want one containing %q", ev.Err, tt.wantErr)
			}
			if tt.want == Rejected {
				var le *LoadError
				if !errors.As(ev.Err, &le) {
					t.Errorf("a rejection's error is %T; want *LoadError", ev.Err)
				}
			}
			if tt.want != Unreadable && ev.Revision.Version != tt.next.Version {
				t.Errorf("event revision %q; want %q", ev.Revision.Version, tt.next.Version)
			}
			if ev.Revision.Data != nil || s.Revision().Data != nil {
				t.Error("the policy text is kept beside the compiled policy")
			}
			if len(events) != 1 || events[0].Outcome != tt.want {
				t.Errorf("OnReload saw %v; want one %v", events, tt.want)
			}
		})
	}
}

// TestStoreRejectedVersionReportedOnce: a version that does not load is
// reported when it appears, not again at every poll; the next version is
// loaded as usual.
func TestStoreRejectedVersionReportedOnce(t *testing.T) {
	good, wider, broken := storeTexts(t)
	src := newFakeSource(rev("v1", good))
	s, err := OpenStore(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	s.OnReload = func(ev ReloadEvent) { got = append(got, ev.Outcome.String()+" "+ev.Revision.Version) }
	for _, next := range []Revision{rev("v2", broken), rev("v2", broken), rev("v3", wider), rev("v3", wider)} {
		src.set(next, nil)
		s.reload(t.Context(), false)
	}
	want := "rejected v2, unchanged v2, loaded v3, unchanged v3"
	if strings.Join(got, ", ") != want {
		t.Errorf("got %q; want %q", strings.Join(got, ", "), want)
	}
}

// TestOpenStoreFailsClosed: the proxy does not start on a source it cannot
// read or a policy that does not load.
func TestOpenStoreFailsClosed(t *testing.T) {
	good, _, broken := storeTexts(t)
	tests := []struct {
		name     string
		src      *fakeSource
		err      error
		wantLoad bool // the error is a *LoadError
	}{
		{name: "unreadable", src: newFakeSource(rev("v1", good)), err: errors.New("403 Forbidden")},
		{name: "does not load", src: newFakeSource(rev("v1", broken)), wantLoad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.set(tt.src.rev, tt.err)
			s, err := OpenStore(t.Context(), tt.src)
			if err == nil || s != nil {
				t.Fatalf("OpenStore = %v, %v; want an error", s, err)
			}
			var le *LoadError
			if errors.As(err, &le) != tt.wantLoad {
				t.Errorf("error %v is a *LoadError: %v; want %v", err, !tt.wantLoad, tt.wantLoad)
			}
		})
	}
}

// TestStoreWatchSource: Watch reloads when the source says it changed and,
// forced, on a signal; a signal re-reads a revision already loaded.
func TestStoreWatchSource(t *testing.T) {
	good, wider, _ := storeTexts(t)
	src := newFakeSource(rev("v1", good))
	s, err := OpenStore(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan ReloadEvent, 10)
	s.OnReload = func(ev ReloadEvent) { events <- ev }
	ctx, cancel := context.WithCancel(t.Context())
	hup := make(chan struct{})
	stopped := make(chan error, 1)
	go func() { stopped <- s.Watch(ctx, hup) }()
	next := func(what string) ReloadEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatalf("no reload after %s", what)
		}
		return ReloadEvent{}
	}

	src.set(rev("v2", wider), nil)
	src.poke <- struct{}{}
	if ev := next("a change"); ev.Outcome != Loaded || s.Revision().Version != "v2" {
		t.Errorf("after a change: %v, version %q in force; want loaded v2", ev.Outcome, s.Revision().Version)
	}
	src.poke <- struct{}{}
	if ev := next("a change to nothing"); ev.Outcome != Unchanged {
		t.Errorf("a poll finding the same version: %v; want unchanged", ev.Outcome)
	}
	hup <- struct{}{}
	if ev := next("SIGHUP"); ev.Outcome != Loaded {
		t.Errorf("SIGHUP: %v; want loaded (forced)", ev.Outcome)
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Watch returned %v when its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}

// newStore copies testdata/decide.yaml to a temporary file and opens a
// Store on it.
func newStore(t *testing.T) (s *Store, file, dir string, good []byte) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "policy.yaml")
	good, err := os.ReadFile("testdata/decide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = NewStore(file); err != nil {
		t.Fatal(err)
	}
	return s, file, dir, good
}

func TestStoreReload(t *testing.T) {
	s, file, _, good := newStore(t)
	first := s.Policy().Digest
	if v := s.Revision().Version; v != first {
		t.Errorf("a file's version %q; want its digest %q", v, first)
	}
	var reloads []error
	s.OnReload = func(ev ReloadEvent) { reloads = append(reloads, ev.Err) }

	os.WriteFile(file, []byte("version: 2\n"), 0o600)
	if err := s.Reload(); err == nil {
		t.Fatal("a bad file reloaded without error")
	}
	if s.Policy().Digest != first {
		t.Error("a bad file replaced the policy in force")
	}
	changed := strings.Replace(string(good), "[$top, $filter]", "[$top, $filter, $orderby]", 1)
	os.WriteFile(file, []byte(changed), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Policy().Digest == first {
		t.Error("a good new file was not swapped in")
	}
	if d := decideURL(t, s.Policy(), "engage", "GET", "/v1.0/users/"+alice+"/events?$orderby=start", ""); d.Result != Allow {
		t.Errorf("new rule not in force: %v %s", d.Result, d.Reason)
	}
	if len(reloads) != 2 || reloads[0] == nil || reloads[1] != nil {
		t.Errorf("OnReload saw %v", reloads)
	}
	inForce := s.Policy().Digest
	os.Remove(file)
	if err := s.Reload(); err == nil || s.Policy().Digest != inForce {
		t.Errorf("a removed file: %v; want an error and the policy in force kept", err)
	}
}

func TestStoreWatch(t *testing.T) {
	s, file, dir, good := newStore(t)
	first := s.Policy().Digest
	results := make(chan ReloadEvent, 10)
	s.OnReload = func(ev ReloadEvent) { results <- ev }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hup := make(chan struct{})
	go s.Watch(ctx, hup)
	time.Sleep(100 * time.Millisecond) // let the watcher start

	// Replaced by rename, as editors and secret volumes do.
	tmp := filepath.Join(dir, "policy.yaml.tmp")
	os.WriteFile(tmp, []byte(strings.Replace(string(good), "[$top, $filter]", "[$top]", 1)), 0o600)
	os.Rename(tmp, file)
	select {
	case ev := <-results:
		if ev.Outcome != Loaded || s.Policy().Digest == first {
			t.Fatalf("reload after rename: %v %v, digest changed: %v", ev.Outcome, ev.Err, s.Policy().Digest != first)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after the file changed")
	}

	// SIGHUP reloads too; a broken file is rejected and the policy stays.
	second := s.Policy().Digest
	os.WriteFile(file, []byte("version: 1\nrules: 5\n"), 0o600)
	for len(results) > 0 {
		<-results
	}
	hup <- struct{}{}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-results:
			if ev.Outcome != Rejected {
				continue // a watch event may race with the signal
			}
			if s.Policy().Digest != second {
				t.Fatal("a broken file replaced the policy in force")
			}
			return
		case <-deadline:
			t.Fatal("no reload attempt after SIGHUP")
		}
	}
}
