package filelink

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/seal"
)

// Kind is what a link is for.
type Kind string

const (
	// Download links fetch a file's content (GET, Range allowed).
	Download Kind = "download"
	// Upload links take an upload session's ranges (PUT with
	// Content-Range), answer its status (GET) and cancel it (DELETE).
	Upload Kind = "upload"
)

// Link is what a file link holds.
type Link struct {
	Kind Kind `json:"k"`
	// Caller is the policy's name of the caller the link was made for
	// (callers[].name), for the records.
	Caller string `json:"c"`
	// Identity is that caller's identity (callers.Caller.Identity): the
	// credential it called with. The link is served only to a call with
	// the same, whatever the policy names either since: a caller renamed
	// keeps its links, and a new caller given its old name gets none of
	// them. A link without it (sealed by an earlier version) is invalid.
	Identity string `json:"i"`
	// Actor is the object id of the signed-in user the caller acted as
	// when the link was made; empty for an app-only call. The link is
	// served only to a call made as the same (the policy decides it as
	// that user, or app-only).
	Actor string `json:"a,omitempty"`
	// Graph is the Graph call the link stands for, version and canonical
	// path ("/v1.0/drives/b!x/items/01AB/content", or the
	// createUploadSession call of an upload): the proxy decides it again
	// under the policy in force whenever the link is used.
	Graph string `json:"g"`
	// URL is the pre-authenticated URL on the file host. It is never shown
	// to a caller.
	URL string `json:"u"`
	// Expires is when the link stops opening.
	Expires time.Time `json:"e"`
}

// Errors of Open. Neither says more to a caller than that the link is
// not valid.
var (
	ErrInvalid = errors.New("file link is not valid")
	ErrExpired = errors.New("file link has expired")
)

// MaxTokenBytes bounds a token: a file host's URL is at most a few KB.
const MaxTokenBytes = 8 << 10

// MinKeyBytes is the shortest secret a Sealer takes.
const MinKeyBytes = seal.MinSecretBytes

// purpose separates the links' key from any other use of the secret.
const purpose = "graph-proxy file links v1"

// Sealer seals and opens links (internal/seal): under the newest version
// of the secret, opened under any version its keys still give, so that a
// rotation leaves the links handed out before it working until they
// expire. It is safe for concurrent use.
type Sealer struct {
	box *seal.Box
}

// NewSealer returns a Sealer over keys, which every replica must share (a
// Key Vault secret, internal/secretkey).
func NewSealer(keys seal.Keys) (*Sealer, error) {
	if keys == nil {
		return nil, errors.New("filelink: no key")
	}
	return &Sealer{box: seal.New(keys, purpose, MaxTokenBytes)}, nil
}

// Seal returns l as a token of URL-safe characters.
func (s *Sealer) Seal(l Link) (string, error) {
	l.Expires = l.Expires.UTC().Truncate(time.Second)
	plain, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	tok, err := s.box.Seal(plain)
	if err != nil {
		return "", fmt.Errorf("filelink: %w", err)
	}
	return tok, nil
}

// Open reads a token Seal made with the same secret, refusing it after
// it expired (at now). Without a key it fails with seal.ErrNoKey.
func (s *Sealer) Open(tok string, now time.Time) (Link, error) {
	plain, err := s.box.Open(tok)
	switch {
	case errors.Is(err, seal.ErrNoKey):
		return Link{}, err
	case err != nil:
		return Link{}, ErrInvalid
	}
	var l Link
	if err := json.Unmarshal(plain, &l); err != nil || (l.Kind != Download && l.Kind != Upload) ||
		l.Caller == "" || l.Identity == "" || l.Graph == "" || l.URL == "" {
		return Link{}, ErrInvalid
	}
	if !now.Before(l.Expires) {
		return Link{}, ErrExpired
	}
	return l, nil
}
