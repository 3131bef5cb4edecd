package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Source is where a Store reads the policy: a file (FileSource) or, outside
// this package, a Key Vault secret (internal/policysource). A Source only
// fetches text and says when it may have changed; loading it, rejecting it
// and keeping the policy in force are the Store's, the same for every
// source.
type Source interface {
	// Read returns the source's current revision. An error means the
	// source could not be read, not that the policy is invalid: the Store
	// keeps the policy in force and reports the source unreadable.
	Read(ctx context.Context) (Revision, error)
	// Watch calls changed whenever the source may hold a new revision
	// (a file event, a poll) until ctx ends, and then returns nil. It
	// returns an error only when it cannot watch at all. changed must not
	// block for long.
	Watch(ctx context.Context, changed func()) error
}

// Revision is one version of a source's policy text.
type Revision struct {
	// Version identifies the text: two reads with the same Version have
	// the same text, so the Store loads a Version once. A file's is the
	// SHA-256 of its content ("sha256:" and hex, the policy's Digest when
	// it loads); a Key Vault secret's is its version id.
	Version string
	// Name locates the revision in problem reports, logs and audit
	// records: a file's path, a secret version's identifier
	// (https://<vault>/secrets/<name>/<version>).
	Name string
	// Data is the policy text; empty in what a Store reports.
	Data []byte
}

// FileSource reads the policy from the file at Path. Its Watch sees the
// file replaced in place, renamed into place (editors) and swapped through
// a "..data" symlink (Kubernetes and Container Apps secret volumes).
type FileSource struct {
	// Path is the policy file.
	Path string
}

// Read reads the file whole.
func (f FileSource) Read(context.Context) (Revision, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return Revision{}, fmt.Errorf("policy: %w", err)
	}
	sum := sha256.Sum256(data)
	return Revision{Version: "sha256:" + hex.EncodeToString(sum[:]), Name: f.Path, Data: data}, nil
}

// Watch watches the file's directory, so that rename-into-place and
// symlink swaps are seen; other files in the directory (an audit log
// beside the policy, say) are not. Changes are debounced: changed is
// called once a burst of events has been quiet for 200 ms.
func (f FileSource) Watch(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(f.Path)); err != nil {
		return err
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !f.concerns(ev.Name) {
				continue
			}
			debounce = time.After(200 * time.Millisecond)
		case <-debounce:
			debounce = nil
			changed()
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
func (f FileSource) concerns(name string) bool {
	base := filepath.Base(name)
	return base == filepath.Base(f.Path) || strings.HasPrefix(base, "..")
}
